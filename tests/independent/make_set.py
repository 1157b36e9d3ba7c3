#!/usr/bin/env python3
"""Build an INDEPENDENT evaluation set from the shared example scans with third-party tools only.

    nice -n 10 python3 tests/independent/make_set.py --seed 7100 --out /work/eval/indep7100
    nice -n 10 python3 tests/independent/make_set.py --seed 7200 --out /work/eval/indep7200 --per-class 8

SEED POLICY: seed 7100 (the default) is the REPORT-ONLY set. Nothing - no threshold, no option default, no
model - may be tuned or chosen on it; look at its numbers only to report them. Seed 7200 (or any other seed) may
be used for choosing thresholds. The base pages are the 60 pages of /work/shared/forms/examples, drawn by a
renderer that is not ours; every container, colour mode and degradation here is produced by a tool that is not
ours (PIL, img2pdf, pikepdf, libtiff's tiffcp/tiff2pdf, Ghostscript, ImageMagick, augraphy), and every reference
rendering by poppler or libtiff.

What it does
  1. Decodes every base page (forms, blank backs and 'other' pages alike) to a master L/RGB image with reference
     decoders only: PIL for JPEG/PNG/TIFF, `pdfimages -all` for PDF pages holding one full-page image (the stored
     image: JPEG decoded by PIL/libjpeg, pixel-identical to `pdfimages -png` and faster; checked against the
     truth's image size), `pdftoppm -r <dpi>` otherwise.
  2. For each class (container x colour mode x producer, see CLASSES) picks a seeded, usage-balanced subset of the
     master pages (tone-only classes take grey/colour masters only) and produces one file per page or, for classes
     that allow it, multi-page files of 1-3 pages.  Files go to OUT/pages/<class>/, named after their class.
  3. Writes OUT/truth.jsonl in the examples' shape (path relative to OUT, pages from 1) plus class, family,
     producer, base, params.  Classes that change the pixel grid (/Rotate 90, fax resampling) set transform null,
     "transform_valid": false, keep the base page's transform as base_transform and give pixel_map (3x3, base
     image px -> new image px, pixel centres).
  4. Writes OUT/reference/<file>.p<page>.png - the reference decoder's rendering of each produced page
     (pdftoppm -r <dpi - 0.001> -aa no -aaVector no, -gray unless the page is colour; tiff2rgba for TIFF; PIL for
     JPEG/PNG) and OUT/reference/index.jsonl with {file, page, png, lossless, dpi, mode, source_match}.
     source_match compares the rendering with the pixels that were encoded (exact for lossless containers where
     the renderer does not resample).

Scan each class folder separately (the same base page appears in several classes, so one batch over all of OUT
would trip the reader's duplicate_page / duplicate_dossier checks) - see tests/independent/README.md.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from multiprocessing import Pool

import numpy as np
from PIL import Image, ImageSequence

EXAMPLES = "/work/shared/forms/examples"
# Fixed PDF dates and ids, so that a seed gives byte-identical files: tiff2pdf -e, gs -dOmitInfoDate/-dOmitID,
# img2pdf nodate with its internal engine (img2pdf 0.6.3 compares pikepdf versions as strings, so with
# pikepdf >= 10 it does not ask for a deterministic /ID).
T2P_DATE = "20200101000000"
ICC_GREY_CANDIDATES = ["/usr/share/color/icc/ghostscript/sgray.icc", "/usr/share/color/icc/ghostscript/default_gray.icc",
                       "/usr/share/color/icc/ghostscript/ps_gray.icc"]

# class -> (family rule, tone_only, multi_page_ok, producer)
# family rule: "native" = from the page's colour (grey / colour / threshold_1bit), or a fixed family.
CLASSES = {
    "img2pdf_g4":           ("threshold_1bit", False, True,  "PIL(G4 TIFF)+img2pdf"),
    "tiff2pdf_g4":          ("threshold_1bit", False, True,  "PIL(G4 TIFF)+tiff2pdf"),
    "tiff2pdf_jpeg":        ("native",         True,  False, "PIL+tiffcp -c jpeg+tiff2pdf"),
    "gs_pdf":               ("native",         False, True,  "PIL+img2pdf+gs pdfwrite"),
    "pike_xobject":         ("native",         False, False, "PIL+pikepdf (image in Form XObject)"),
    "pike_strips":          ("native",         False, False, "PIL+pikepdf (3 strips)"),
    "pike_rotate90":        ("native",         False, False, "PIL+pikepdf (/Rotate 90)"),
    "pike_decode_inv":      ("threshold_1bit", False, False, "PIL+pikepdf (1-bit /Decode [1 0])"),
    "pike_imagemask":       ("threshold_1bit", False, False, "PIL+pikepdf (/ImageMask true)"),
    "pike_indexed":         ("native",         True,  False, "PIL quantize+pikepdf (/Indexed 8-bit)"),
    "pike_iccgray":         ("grey",           True,  False, "PIL+pikepdf (/ICCBased N=1)"),
    "pike_cmyk_dct":        ("colour",         True,  False, "PIL CMYK JPEG+pikepdf (/Decode [1 0 ...])"),
    "pike_flate_predictor": ("grey",           True,  False, "PIL+pikepdf (Flate /Predictor 15)"),
    "tiffcp_g3_1d":         ("threshold_1bit", False, False, "PIL+tiffcp -c g3:1d"),
    "tiffcp_g3_2d":         ("threshold_1bit", False, True,  "PIL+tiffcp -c g3:2d"),
    "tiffcp_lzw_fill2":     ("native",         False, False, "PIL+tiffcp -f lsb2msb -c lzw"),
    "tiffcp_packbits":      ("native",         False, True,  "PIL+tiffcp -c packbits"),
    "tiffcp_zip":           ("native",         False, True,  "PIL+tiffcp -c zip"),
    "tiffcp_tiled":         ("native",         False, False, "PIL+tiffcp -t -w 256 -l 256 -c zip"),
    "im_g4_miniswhite":     ("threshold_1bit", False, True,  "ImageMagick convert -threshold 50% -compress Group4"),
    "fax_204x98":           ("threshold_1bit", False, False, "PIL resample+threshold+tiffcp -c g3:1d"),
    "halftone_ordered":     ("halftone_1bit",  True,  False, "ImageMagick -ordered-dither + Group4"),
    "halftone_fs":          ("halftone_1bit",  True,  False, "ImageMagick -dither FloydSteinberg -monochrome + Group4"),
    "threshold_35":         ("threshold_1bit", True,  False, "ImageMagick -threshold 35% (1-bit PNG)"),
    "threshold_70":         ("threshold_1bit", True,  False, "ImageMagick -threshold 70% -compress Group4"),
    "jpeg_72dpi":           ("native",         False, False, "PIL JPEG, JFIF density 72"),
    "jpeg_600dpi":          ("native",         False, False, "PIL JPEG, JFIF density 600"),
    "augraphy_ink":         ("native",         True,  False, "augraphy (ink phase)+PIL JPEG"),
    "augraphy_scanner":     ("native",         True,  False, "augraphy (scanner/drum)+PIL PNG"),
    "augraphy_paper":       ("native",         True,  False, "augraphy (paper/light)+PIL JPEG"),
}


# ----------------------------------------------------------------------------------------------------- helpers
def sh(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"command failed ({p.returncode}): {' '.join(map(str, cmd))}\n{p.stderr.decode(errors='replace')[-2000:]}")
    return p.stdout.decode(errors="replace")


def sub_rng(seed, *key):
    h = hashlib.sha256(("%s|" % seed + "|".join(map(str, key))).encode()).digest()
    return random.Random(int.from_bytes(h[:8], "big")), int.from_bytes(h[8:12], "big") & 0x7FFFFFFF


def grey(img):
    return img if img.mode == "L" else img.convert("L")


def to_bw(img, level=128):
    """1-bit ('1' mode, 0 = black): black where luma < level."""
    g = np.asarray(grey(img))
    return Image.fromarray(np.where(g < level, 0, 255).astype(np.uint8)).convert("1", dither=Image.NONE)


def native(m):
    """The master page in its own colour: '1' for 1-bit masters, else L or RGB."""
    return m["img"].convert("1", dither=Image.NONE) if m["color"] == "bw" else m["img"]


def color_of(img):
    return {"1": "bw", "L": "gray", "RGB": "rgb", "CMYK": "cmyk"}[img.mode]


def pt(px, dpi):
    return px * 72.0 / dpi


def fmt_num(v):
    s = ("%.4f" % v).rstrip("0").rstrip(".")
    return s if s not in ("", "-0") else "0"


def save_tiff_raw(img, path, dpi):
    img.save(path, format="TIFF", compression="raw", dpi=(dpi, dpi))


def page_info(img, **kw):
    d = {"color": color_of(img) if img is not None else None, "intended": img, "lossy": False, "dpi": None, "transform": "same", "params": {}}
    d.update(kw)
    return d


# ------------------------------------------------------------------------------------------------ PDF building
def _pike():
    import pikepdf
    return pikepdf


def pdf_image(pdf, img, enc, extra=None, quality=90):
    """An image XObject for a PIL image. enc: 'flate' | 'dct'.  1-bit: 0 = black (DeviceGray Decode [0 1])."""
    pikepdf = _pike()
    N = pikepdf.Name
    w, h = img.size
    d = {"/Type": N.XObject, "/Subtype": N.Image, "/Width": w, "/Height": h}
    if img.mode == "1":
        raw = np.packbits(np.asarray(img, dtype=np.uint8), axis=1).tobytes()
        d.update({"/ColorSpace": N.DeviceGray, "/BitsPerComponent": 1})
    else:
        raw = img.tobytes()
        d.update({"/ColorSpace": {"L": N.DeviceGray, "RGB": N.DeviceRGB, "CMYK": N.DeviceCMYK}[img.mode],
                  "/BitsPerComponent": 8})
    if enc == "dct":
        b = io.BytesIO()
        img.save(b, format="JPEG", quality=quality)
        data, filt = b.getvalue(), N.DCTDecode
    else:
        data, filt = zlib.compress(raw, 6), N.FlateDecode
    if extra:
        d.update(extra)
    s = pikepdf.Stream(pdf, b"")
    for k, v in d.items():
        s[k] = v
    s.write(data, filter=filt)
    return s


def pdf_add_page(pdf, wpt, hpt, content, xobjects, rotate=None):
    pikepdf = _pike()
    N = pikepdf.Name
    page = pikepdf.Dictionary({"/Type": N.Page, "/MediaBox": [0, 0, wpt, hpt],
                               "/Resources": pikepdf.Dictionary({"/XObject": pikepdf.Dictionary(xobjects)}),
                               "/Contents": pikepdf.Stream(pdf, content.encode())})
    if rotate:
        page["/Rotate"] = rotate
    pdf.pages.append(pikepdf.Page(pdf.make_indirect(page)))


def pdf_save(pdf, path):
    pikepdf = _pike()
    pdf.save(path, compress_streams=False, stream_decode_level=pikepdf.StreamDecodeLevel.none,
             deterministic_id=True)


def placed(name, x, y, w, h):
    return f"q {fmt_num(w)} 0 0 {fmt_num(h)} {fmt_num(x)} {fmt_num(y)} cm /{name} Do Q\n"


# --------------------------------------------------------------------------------------------- the classes
def c_img2pdf_g4(ms, base, tmp, rng, cls):
    import img2pdf
    tifs, pages = [], []
    for i, m in enumerate(ms):
        bw = to_bw(m["img"])
        t = os.path.join(tmp, f"g4_{i}.tif")
        bw.save(t, format="TIFF", compression="group4", dpi=(m["dpi"], m["dpi"]))
        tifs.append(t)
        pages.append(page_info(bw, dpi=m["dpi"], params={"threshold": 128}))
    out = base + ".pdf"
    with open(out, "wb") as fh:
        fh.write(img2pdf.convert(tifs, nodate=True, engine=img2pdf.Engine.internal))
    return out, pages


def c_tiff2pdf_g4(ms, base, tmp, rng, cls):
    imgs = [to_bw(m["img"]) for m in ms]
    t = os.path.join(tmp, "g4.tif")
    imgs[0].save(t, format="TIFF", compression="group4", dpi=(ms[0]["dpi"],) * 2, save_all=True,
                 append_images=imgs[1:])
    if len(ms) > 1:  # per-page dpi: PIL writes the first page's dpi for all, set each with tiffcp from singles
        singles = []
        for i, (im, m) in enumerate(zip(imgs, ms)):
            s = os.path.join(tmp, f"g4_{i}.tif")
            im.save(s, format="TIFF", compression="group4", dpi=(m["dpi"], m["dpi"]))
            singles.append(s)
        sh(["tiffcp", *singles, t + "m"])
        t = t + "m"
    out = base + ".pdf"
    sh(["tiff2pdf", "-e", T2P_DATE, "-o", out, t])
    return out, [page_info(im, dpi=m["dpi"], params={"threshold": 128}) for im, m in zip(imgs, ms)]


def c_tiff2pdf_jpeg(ms, base, tmp, rng, cls):
    # tiff2pdf (libtiff 4.5.0) JPEG pass-through writes an unreadable stream (DQT/DHT, then a second SOI): every
    # renderer shows a white page. So tiff2pdf decodes the JPEG TIFF through libtiff and re-encodes it (-n -j).
    # With -n -j a YCbCr TIFF fails ("too many scanlines"), so colour pages are written with RGB photometric
    # (tiffcp -c jpeg:r).
    m = ms[0]
    img = native(m)
    raw, jt = os.path.join(tmp, "raw.tif"), os.path.join(tmp, "jpeg.tif")
    save_tiff_raw(img, raw, m["dpi"])
    q = rng.choice([75, 85, 92])
    mode = f"jpeg:r:{q}" if img.mode == "RGB" else f"jpeg:{q}"
    sh(["tiffcp", "-c", mode, "-r", "64", raw, jt])
    out = base + ".pdf"
    sh(["tiff2pdf", "-e", T2P_DATE, "-n", "-j", "-q", str(q), "-o", out, jt])
    return out, [page_info(img, dpi=m["dpi"], lossy=True,
                           params={"tiffcp": f"-c {mode} -r 64", "tiff2pdf": f"-n -j -q {q}"})]


def c_gs_pdf(ms, base, tmp, rng, cls):
    import img2pdf
    pngs, pages = [], []
    for i, m in enumerate(ms):
        img = native(m)
        p = os.path.join(tmp, f"m{i}.png")
        img.save(p, dpi=(m["dpi"], m["dpi"]))
        pngs.append(p)
        pages.append(page_info(img, dpi=m["dpi"], lossy=None))  # decided from the output's encoding
    src = os.path.join(tmp, "img2pdf.pdf")
    with open(src, "wb") as fh:
        fh.write(img2pdf.convert(pngs, nodate=True, engine=img2pdf.Engine.internal))
    out = base + ".pdf"
    sh(["gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-dOmitInfoDate", "-dOmitID", "-dOmitXMP", "-sDEVICE=pdfwrite",
        "-o", out, src])
    return out, pages


def _one_image_pdf(m, img, enc, base, rotate=None, xobject=False, extra=None, quality=90):
    pikepdf = _pike()
    pdf = pikepdf.new()
    im = pdf_image(pdf, img, enc, extra, quality)
    wpt, hpt = pt(img.width, m["dpi"]), pt(img.height, m["dpi"])
    if xobject:
        form = pikepdf.Stream(pdf, placed("Im0", 0, 0, wpt, hpt).encode())
        form["/Type"] = pikepdf.Name.XObject
        form["/Subtype"] = pikepdf.Name.Form
        form["/BBox"] = [0, 0, wpt, hpt]
        form["/Resources"] = pikepdf.Dictionary({"/XObject": pikepdf.Dictionary({"/Im0": im})})
        pdf_add_page(pdf, wpt, hpt, "q /Fm0 Do Q\n", {"/Fm0": form}, rotate)
    else:
        pdf_add_page(pdf, wpt, hpt, placed("Im0", 0, 0, wpt, hpt), {"/Im0": im}, rotate)
    out = base + ".pdf"
    pdf_save(pdf, out)
    return out


def c_pike_xobject(ms, base, tmp, rng, cls):
    m = ms[0]
    img = native(m)
    enc = "flate" if img.mode == "1" else "dct"
    out = _one_image_pdf(m, img, enc, base, xobject=True)
    return out, [page_info(img, dpi=m["dpi"], lossy=enc == "dct", params={"encoding": enc})]


def c_pike_strips(ms, base, tmp, rng, cls):
    pikepdf = _pike()
    m = ms[0]
    img = native(m)
    W, H = img.size
    a = int(H * rng.uniform(0.25, 0.42))
    b = int(H * rng.uniform(0.58, 0.75))
    cuts = [0, a, b, H]
    pdf = pikepdf.new()
    xo, content = {}, ""
    dpi = m["dpi"]
    for i in range(3):
        r0, r1 = cuts[i], cuts[i + 1]
        strip = img.crop((0, r0, W, r1))
        xo[f"/Im{i}"] = pdf_image(pdf, strip, "flate")
        content += placed(f"Im{i}", 0, pt(H - r1, dpi), pt(W, dpi), pt(r1 - r0, dpi))
    pdf_add_page(pdf, pt(W, dpi), pt(H, dpi), content, xo)
    out = base + ".pdf"
    pdf_save(pdf, out)
    return out, [page_info(img, dpi=dpi, params={"strip_rows": cuts})]


def rot90_cw_map(w, h):
    """pixel map base (x, y) -> displayed after a 90 degree clockwise rotation (new width = h)."""
    return [[0, -1, h - 1], [1, 0, 0], [0, 0, 1]]


def c_pike_rotate90(ms, base, tmp, rng, cls):
    m = ms[0]
    img = native(m)
    enc = "flate" if img.mode == "1" else "dct"
    out = _one_image_pdf(m, img, enc, base, rotate=90)
    shown = img.transpose(Image.Transpose.ROTATE_270)  # /Rotate 90 = shown turned 90 degrees clockwise
    return out, [page_info(shown, dpi=m["dpi"], lossy=enc == "dct", transform=rot90_cw_map(*img.size),
                           params={"Rotate": 90, "encoding": enc})]


def c_pike_decode_inv(ms, base, tmp, rng, cls):
    pikepdf = _pike()
    m = ms[0]
    bw = to_bw(m["img"])
    inv = Image.fromarray(255 - np.asarray(bw.convert("L"))).convert("1", dither=Image.NONE)  # ink = 1
    out = _one_image_pdf(m, inv, "flate", base, extra={"/Decode": pikepdf.Array([1, 0])})
    return out, [page_info(bw, dpi=m["dpi"], params={"Decode": [1, 0], "data": "inverted (ink=1)"})]


def c_pike_imagemask(ms, base, tmp, rng, cls):
    pikepdf = _pike()
    m = ms[0]
    bw = to_bw(m["img"])  # sample 0 (ink) is painted with the fill colour, 1 leaves the page white
    pdf = pikepdf.new()
    im = pdf_image(pdf, bw, "flate")
    del im["/ColorSpace"]
    im["/ImageMask"] = True
    wpt, hpt = pt(bw.width, m["dpi"]), pt(bw.height, m["dpi"])
    pdf_add_page(pdf, wpt, hpt, "0 g\n" + placed("Im0", 0, 0, wpt, hpt), {"/Im0": im})
    out = base + ".pdf"
    pdf_save(pdf, out)
    return out, [page_info(bw, dpi=m["dpi"], params={"ImageMask": True, "fill": "0 g"})]


def c_pike_indexed(ms, base, tmp, rng, cls):
    pikepdf = _pike()
    m = ms[0]
    img = native(m)
    if img.mode == "RGB":
        q = img.quantize(256, dither=Image.Dither.NONE)
        pal = np.array(q.getpalette()[:768], dtype=np.uint8).reshape(-1, 3)
        idx = np.asarray(q)
        how = "PIL quantize 256 (median cut), palette order as produced"
    else:  # a grey page: the 256 grey levels in a shuffled palette order, so indices are not grey values
        order = list(range(256))
        rng.shuffle(order)
        pal = np.repeat(np.array(order, dtype=np.uint8)[:, None], 3, axis=1)
        inv = np.argsort(order).astype(np.uint8)
        idx = inv[np.asarray(img)]
        how = "256 grey levels, shuffled palette order"
    n = pal.shape[0]
    pal = np.vstack([pal, np.zeros((256 - n, 3), np.uint8)]) if n < 256 else pal
    shown = Image.fromarray(pal[idx], "RGB")
    if img.mode == "L":
        shown = shown.convert("L")
    pdf = pikepdf.new()
    N = pikepdf.Name
    s = pikepdf.Stream(pdf, b"")
    for k, v in {"/Type": N.XObject, "/Subtype": N.Image, "/Width": img.width, "/Height": img.height,
                 "/BitsPerComponent": 8,
                 "/ColorSpace": pikepdf.Array([N.Indexed, N.DeviceRGB, 255, pikepdf.String(pal.tobytes())])}.items():
        s[k] = v
    s.write(zlib.compress(idx.astype(np.uint8).tobytes(), 6), filter=N.FlateDecode)
    wpt, hpt = pt(img.width, m["dpi"]), pt(img.height, m["dpi"])
    pdf_add_page(pdf, wpt, hpt, placed("Im0", 0, 0, wpt, hpt), {"/Im0": s})
    out = base + ".pdf"
    pdf_save(pdf, out)
    return out, [page_info(shown, dpi=m["dpi"], color="indexed_" + color_of(shown), params={"palette": how})]


def c_pike_iccgray(ms, base, tmp, rng, cls):
    pikepdf = _pike()
    m = ms[0]
    g = grey(m["img"])
    icc_path = next(p for p in ICC_GREY_CANDIDATES if os.path.exists(p))
    pdf = pikepdf.new()
    N = pikepdf.Name
    icc = pikepdf.Stream(pdf, open(icc_path, "rb").read())
    icc["/N"] = 1
    icc["/Alternate"] = N.DeviceGray
    im = pdf_image(pdf, g, "flate")
    im["/ColorSpace"] = pikepdf.Array([N.ICCBased, icc])
    wpt, hpt = pt(g.width, m["dpi"]), pt(g.height, m["dpi"])
    pdf_add_page(pdf, wpt, hpt, placed("Im0", 0, 0, wpt, hpt), {"/Im0": im})
    out = base + ".pdf"
    pdf_save(pdf, out)
    return out, [page_info(g, dpi=m["dpi"], params={"icc": os.path.basename(icc_path)})]


def rgb_to_cmyk(img):
    if img.mode == "L":
        k = 255 - np.asarray(img, dtype=np.uint8)
        z = np.zeros_like(k)
        return Image.fromarray(np.dstack([z, z, z, k]), "CMYK")
    a = np.asarray(img, dtype=np.float32) / 255.0
    k = 1.0 - a.max(axis=2)
    d = np.maximum(1.0 - k, 1e-6)
    cmy = (1.0 - a - k[..., None]) / d[..., None]
    cmyk = np.dstack([cmy, k])
    return Image.fromarray(np.clip(cmyk * 255 + 0.5, 0, 255).astype(np.uint8), "CMYK")


def c_pike_cmyk_dct(ms, base, tmp, rng, cls):
    pikepdf = _pike()
    m = ms[0]
    src = native(m)
    src = src.convert("L") if src.mode == "1" else src
    cmyk = rgb_to_cmyk(src)
    # PIL writes CMYK JPEG the Adobe way: APP14 'Adobe' (transform 0) and inverted samples; Photoshop-made PDFs
    # undo that with /Decode [1 0 1 0 1 0 1 0].
    out = _one_image_pdf(m, cmyk, "dct", base, extra={"/Decode": pikepdf.Array([1, 0] * 4)}, quality=90)
    shown = Image.fromarray(np.asarray(cmyk.convert("RGB")), "RGB")  # naive CMYK->RGB, informative only
    return out, [page_info(shown, dpi=m["dpi"], lossy=True, color="cmyk",
                           params={"jpeg": "CMYK, Adobe APP14 transform 0, inverted", "Decode": [1, 0] * 4,
                                   "from": color_of(src), "quality": 90})]


def png_predict(a, rng):
    """PNG-filter each row of a 2-D uint8 array (filter type per row drawn from rng)."""
    h, w = a.shape
    out = bytearray()
    prev = np.zeros(w, dtype=np.int16)
    used = set()
    for y in range(h):
        row = a[y].astype(np.int16)
        left = np.concatenate([[0], row[:-1]])
        ul = np.concatenate([[0], prev[:-1]])
        f = rng.choice([0, 1, 2, 3, 4, 4])
        if f == 0:
            r = row
        elif f == 1:
            r = row - left
        elif f == 2:
            r = row - prev
        elif f == 3:
            r = row - ((left + prev) >> 1)
        else:
            p = left + prev - ul
            pa, pb, pc = np.abs(p - left), np.abs(p - prev), np.abs(p - ul)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, ul))
            r = row - pred
        used.add(int(f))
        out.append(f)
        out += (r & 0xFF).astype(np.uint8).tobytes()
        prev = row
    return bytes(out), sorted(used)


def c_pike_flate_predictor(ms, base, tmp, rng, cls):
    pikepdf = _pike()
    m = ms[0]
    g = grey(m["img"])
    a = np.asarray(g, dtype=np.uint8)
    data, used = png_predict(a, rng)
    pdf = pikepdf.new()
    N = pikepdf.Name
    s = pikepdf.Stream(pdf, b"")
    for k, v in {"/Type": N.XObject, "/Subtype": N.Image, "/Width": g.width, "/Height": g.height,
                 "/BitsPerComponent": 8, "/ColorSpace": N.DeviceGray}.items():
        s[k] = v
    s.write(zlib.compress(data, 6), filter=N.FlateDecode,
            decode_parms=pikepdf.Dictionary({"/Predictor": 15, "/Columns": g.width, "/Colors": 1,
                                             "/BitsPerComponent": 8}))
    wpt, hpt = pt(g.width, m["dpi"]), pt(g.height, m["dpi"])
    pdf_add_page(pdf, wpt, hpt, placed("Im0", 0, 0, wpt, hpt), {"/Im0": s})
    out = base + ".pdf"
    pdf_save(pdf, out)
    return out, [page_info(g, dpi=m["dpi"], params={"Predictor": 15, "png_filters_used": used})]


def _tiffcp(ms, imgs, base, tmp, args, params=None):
    raws = []
    for i, (im, m) in enumerate(zip(imgs, ms)):
        r = os.path.join(tmp, f"raw{i}.tif")
        save_tiff_raw(im, r, m["dpi"])
        raws.append(r)
    out = base + ".tif"
    sh(["tiffcp", *args, *raws, out])
    return out, [page_info(im, dpi=m["dpi"], params=dict(params or {}, tiffcp=" ".join(args)))
                 for im, m in zip(imgs, ms)]


def c_tiffcp_g3_1d(ms, base, tmp, rng, cls):
    return _tiffcp(ms, [to_bw(m["img"]) for m in ms], base, tmp, ["-c", "g3:1d"], {"threshold": 128})


def c_tiffcp_g3_2d(ms, base, tmp, rng, cls):
    return _tiffcp(ms, [to_bw(m["img"]) for m in ms], base, tmp, ["-c", "g3:2d"], {"threshold": 128})


def c_tiffcp_lzw_fill2(ms, base, tmp, rng, cls):
    m = ms[0]
    one_bit = m["color"] == "bw" or rng.random() < 0.4
    img = to_bw(m["img"]) if one_bit else native(m)
    return _tiffcp(ms, [img], base, tmp, ["-f", "lsb2msb", "-c", "lzw"], {"threshold": 128} if one_bit else {})


def c_tiffcp_packbits(ms, base, tmp, rng, cls):
    return _tiffcp(ms, [native(m) for m in ms], base, tmp, ["-c", "packbits"])


def c_tiffcp_zip(ms, base, tmp, rng, cls):
    imgs = [native(m) for m in ms]
    pred = rng.choice(["zip", "zip:2"]) if all(i.mode != "1" for i in imgs) else "zip"
    return _tiffcp(ms, imgs, base, tmp, ["-c", pred])


def c_tiffcp_tiled(ms, base, tmp, rng, cls):
    return _tiffcp(ms, [native(m) for m in ms], base, tmp, ["-t", "-w", "256", "-l", "256", "-c", "zip"])


def _im(args):
    sh(["convert", *args])


def _read_tiff_pages(path):
    ims = []
    with Image.open(path) as im:
        for p in ImageSequence.Iterator(im):
            ims.append(p.copy())
    return ims


def c_im_g4_miniswhite(ms, base, tmp, rng, cls):
    pngs = []
    for i, m in enumerate(ms):
        p = os.path.join(tmp, f"m{i}.png")
        m["img"].save(p, dpi=(m["dpi"], m["dpi"]))
        pngs.append(p)
    out = base + ".tif"
    h = max(m["img"].height for m in ms)
    _im([*pngs, "-colorspace", "Gray", "-threshold", "50%", "-define", f"tiff:rows-per-strip={h}",
         "-compress", "Group4", out])
    return out, [page_info(None, color="bw", dpi=m["dpi"], intended=None,
                           params={"convert": "-colorspace Gray -threshold 50% -compress Group4 (one strip)"})
                 for m in ms]


def c_fax_204x98(ms, base, tmp, rng, cls):
    m = ms[0]
    g = grey(m["img"])
    sx, sy = 204.0 / m["dpi"], 98.0 / m["dpi"]
    w, h = max(1, round(g.width * sx)), max(1, round(g.height * sy))
    small = g.resize((w, h), Image.Resampling.BOX)
    W = 1728  # G3 fax line for A4/letter; pad or crop symmetrically
    dx = (W - w) // 2
    canvas = Image.new("L", (W, h), 255)
    canvas.paste(small, (dx, 0))
    bw = to_bw(canvas)
    raw = os.path.join(tmp, "raw.tif")
    bw.save(raw, format="TIFF", compression="raw", dpi=(204, 98))
    out = base + ".tif"
    sh(["tiffcp", "-c", "g3:1d", raw, out])
    sxx, syy = w / g.width, h / g.height
    pmap = [[sxx, 0, 0.5 * sxx - 0.5 + dx], [0, syy, 0.5 * syy - 0.5], [0, 0, 1]]
    return out, [page_info(bw, dpi=(204, 98), transform=pmap,
                           params={"resample": "PIL BOX", "size": [W, h], "pad_x": dx, "threshold": 128,
                                   "tiffcp": "-c g3:1d"})]


def c_halftone_ordered(ms, base, tmp, rng, cls):
    m = ms[0]
    p = os.path.join(tmp, "m.png")
    m["img"].save(p, dpi=(m["dpi"], m["dpi"]))
    mapn = rng.choice(["o8x8", "h6x6a", "h4x4a"])
    out = base + ".tif"
    _im([p, "-colorspace", "Gray", "-ordered-dither", mapn, "-type", "bilevel", "-compress", "Group4", out])
    return out, [page_info(None, color="bw", intended=None, dpi=m["dpi"], params={"ordered_dither": mapn})]


def c_halftone_fs(ms, base, tmp, rng, cls):
    m = ms[0]
    p = os.path.join(tmp, "m.png")
    m["img"].save(p, dpi=(m["dpi"], m["dpi"]))
    out = base + ".tif"
    _im([p, "-colorspace", "Gray", "-dither", "FloydSteinberg", "-monochrome", "-compress", "Group4", out])
    return out, [page_info(None, color="bw", intended=None, dpi=m["dpi"], params={"dither": "FloydSteinberg"})]


def c_threshold_35(ms, base, tmp, rng, cls):
    m = ms[0]
    p = os.path.join(tmp, "m.png")
    m["img"].save(p, dpi=(m["dpi"], m["dpi"]))
    out = base + ".png"
    _im([p, "-colorspace", "Gray", "-threshold", "35%", "-type", "bilevel", "-units", "PixelsPerInch",
         "-density", str(m["dpi"]), out])
    return out, [page_info(None, color="bw", intended=None, dpi=m["dpi"], params={"threshold": "35%"})]


def c_threshold_70(ms, base, tmp, rng, cls):
    m = ms[0]
    p = os.path.join(tmp, "m.png")
    m["img"].save(p, dpi=(m["dpi"], m["dpi"]))
    out = base + ".tif"
    _im([p, "-colorspace", "Gray", "-threshold", "70%", "-compress", "Group4", out])
    return out, [page_info(None, color="bw", intended=None, dpi=m["dpi"], params={"threshold": "70%"})]


def _jpeg_dpi(ms, base, rng, d):
    m = ms[0]
    img = native(m)
    img = img.convert("L") if img.mode == "1" else img
    q = rng.choice([85, 92])
    out = base + ".jpg"
    img.save(out, format="JPEG", quality=q, dpi=(d, d))
    return out, [page_info(img, dpi=m["dpi"], lossy=True, params={"jfif_density": d, "quality": q},
                           dpi_declared=d)]


def c_jpeg_72dpi(ms, base, tmp, rng, cls):
    return _jpeg_dpi(ms, base, rng, 72)


def c_jpeg_600dpi(ms, base, tmp, rng, cls):
    return _jpeg_dpi(ms, base, rng, 600)


# -- augraphy: every parameter is drawn here from the job's rng and passed as a degenerate range, so the truth
#    line records exactly what was applied; augraphy's own randomness is fixed by random_seed.
def _aug_specs(cls, rng, dpi):
    u = lambda a, b, nd=2: round(rng.uniform(a, b), nd)
    k = max(3, int(round(dpi / 100.0)) * 2 + 1)
    if cls == "augraphy_ink":
        return {"ink_phase": [
            ("InkBleed", {"intensity_range": (u(0.3, 0.5),) * 2, "kernel_size": (3, 3), "severity": (u(0.2, 0.35),) * 2}),
            ("LowInkRandomLines", {"count_range": (rng.randint(8, 20),) * 2, "use_consistent_lines": False,
                                   "noise_probability": u(0.05, 0.12)}),
            ("InkMottling", {"ink_mottling_alpha_range": (u(0.15, 0.3),) * 2,
                             "ink_mottling_noise_scale_range": (2, 2), "ink_mottling_gaussian_kernel_range": (3, 3)}),
        ], "paper_phase": [("SubtleNoise", {"subtle_range": rng.randint(5, 12)})],
            "post_phase": [("Jpeg", {"quality_range": (rng.randint(55, 80),) * 2})]}
    if cls == "augraphy_scanner":
        return {"ink_phase": [
            ("LowInkPeriodicLines", {"count_range": (rng.randint(2, 4),) * 2, "period_range": (rng.randint(16, 32),) * 2,
                                     "use_consistent_lines": True, "noise_probability": u(0.05, 0.1)}),
        ], "paper_phase": [
            ("Brightness", {"brightness_range": (u(0.85, 1.15),) * 2, "min_brightness": 0}),
        ], "post_phase": [
            ("DirtyDrum", {"line_width_range": (1, 3), "line_concentration": u(0.02, 0.04, 3), "direction": rng.choice([0, 1]),
                           "noise_intensity": u(0.1, 0.2), "noise_value": (100, 180), "ksize": (k, k), "sigmaX": 0}),
            ("SubtleNoise", {"subtle_range": rng.randint(6, 14)}),
        ]}
    if cls == "augraphy_paper":
        return {"paper_phase": [
            ("NoiseTexturize", {"sigma_range": (rng.randint(3, 7),) * 2, "turbulence_range": (rng.randint(2, 4),) * 2,
                                "texture_width_range": (300, 500), "texture_height_range": (300, 500)}),
            ("BrightnessTexturize", {"texturize_range": (u(0.9, 0.97),) * 2, "deviation": u(0.03, 0.06, 3)}),
        ], "post_phase": [
            ("ShadowCast", {"shadow_side": rng.choice(["left", "right", "top", "bottom"]),
                            "shadow_vertices_range": (rng.randint(3, 8),) * 2, "shadow_width_range": (u(0.3, 0.6),) * 2,
                            "shadow_height_range": (u(0.3, 0.6),) * 2, "shadow_color": (0, 0, 0),
                            "shadow_opacity_range": (u(0.2, 0.4),) * 2, "shadow_iterations_range": (1, 1),
                            "shadow_blur_kernel_range": (151, 151)}),
            ("Jpeg", {"quality_range": (rng.randint(60, 85),) * 2}),
        ]}
    raise KeyError(cls)


def _aug_json(specs):
    return {ph: [[n, {k: list(v) if isinstance(v, tuple) else v for k, v in p.items()}] for n, p in lst]
            for ph, lst in specs.items()}


def c_augraphy(ms, base, tmp, rng, cls, seed32):
    import augraphy
    import cv2
    m = ms[0]
    img = native(m)
    img = img.convert("L") if img.mode == "1" else img
    specs = _aug_specs(cls, rng, m["dpi"])
    phases = {ph: [getattr(augraphy, n)(**p, p=1) for n, p in lst] for ph, lst in specs.items()}
    random.seed(seed32)
    np.random.seed(seed32)
    try:
        cv2.setRNGSeed(seed32 & 0x7FFFFFFF)
    except AttributeError:
        pass
    pipe = augraphy.AugraphyPipeline(ink_phase=phases.get("ink_phase", []), paper_phase=phases.get("paper_phase", []),
                                     post_phase=phases.get("post_phase", []), random_seed=seed32)
    arr = np.asarray(img)
    if img.mode == "RGB":
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    res = pipe(arr.copy())
    res = res["output"] if isinstance(res, dict) else res
    if res.ndim == 3 and res.shape[2] == 4:
        res = res[:, :, :3]
    if img.mode == "L":
        res = res if res.ndim == 2 else cv2.cvtColor(res, cv2.COLOR_BGR2GRAY)
        outimg = Image.fromarray(res.astype(np.uint8), "L")
    else:
        res = cv2.cvtColor(res, cv2.COLOR_GRAY2BGR) if res.ndim == 2 else res
        outimg = Image.fromarray(cv2.cvtColor(res.astype(np.uint8), cv2.COLOR_BGR2RGB), "RGB")
    if outimg.size != img.size:
        raise RuntimeError(f"augraphy changed the size {img.size} -> {outimg.size}")
    if cls == "augraphy_scanner":
        out = base + ".png"
        outimg.save(out, dpi=(m["dpi"], m["dpi"]))
        lossy = False
    else:
        out = base + ".jpg"
        outimg.save(out, format="JPEG", quality=92, dpi=(m["dpi"], m["dpi"]))
        lossy = True
    return out, [page_info(outimg, dpi=m["dpi"], lossy=lossy,
                           params={"augraphy": augraphy.__version__, "random_seed": seed32,
                                   "pipeline": _aug_json(specs), "saved": "jpeg q92" if lossy else "png"})]


IMPL = {n: globals()["c_" + n] for n in CLASSES if not n.startswith("augraphy_")}


# -------------------------------------------------------------------------------------------- reference decode
def pdf_encodings(path):
    out = sh(["pdfimages", "-list", path]).splitlines()[2:]
    encs = {}
    for line in out:
        f = line.split()
        if len(f) > 9:
            encs.setdefault(int(f[0]), []).append(f[8])
    return encs


def render_reference(path, npages, pages, ref_dir, rel):
    """Reference renderings -> list of (page, png, image)."""
    out, hows = [], []
    name = os.path.basename(path)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".pdf":
        for i in range(npages):
            p = pages[i]
            dpi = p["dpi"] if isinstance(p["dpi"], (int, float)) else p["dpi"][0]
            colour = p["color"] in ("rgb", "cmyk", "indexed_rgb")
            with tempfile.TemporaryDirectory() as td:
                pre = os.path.join(td, "r")
                # pdftoppm rounds the page's pixel size up: at exactly the image's dpi a float product just above
                # the integer (595.2 pt * 300 / 72) gives one extra column/row and a resampled image, so render at
                # dpi - 0.001, which maps the image 1:1 (checked: pixel-identical to the encoded image).
                cmd = ["pdftoppm", "-r", fmt_num(dpi - 0.001), "-f", str(i + 1), "-l", str(i + 1), "-singlefile",
                       "-aa", "no", "-aaVector", "no"]
                if not colour:
                    cmd.append("-gray")
                sh(cmd + [path, pre])
                f = pre + (".ppm" if colour else ".pgm")
                im = Image.open(f)
                im.load()
            out.append(im)
            hows.append(" ".join(cmd[:3] + cmd[7:]))
    elif ext in (".tif", ".tiff"):
        with tempfile.TemporaryDirectory() as td:
            r = os.path.join(td, "rgba.tif")
            sh(["tiff2rgba", "-c", "none", path, r])  # every directory, through libtiff's RGBA interface
            r2 = os.path.join(td, "rgba_msb.tif")
            sh(["tiffcp", "-f", "msb2lsb", "-c", "none", r, r2])  # tiff2rgba keeps FillOrder 2, PIL cannot read it
            for i, im in enumerate(_read_tiff_pages(r2)):
                im = im.convert("RGB") if pages[i]["color"] == "rgb" else im.convert("RGB").convert("L")
                out.append(im)
                hows.append("tiff2rgba -c none | tiffcp -f msb2lsb -c none | PIL")
    else:
        im = Image.open(path)
        im.load()
        if im.mode not in ("L", "RGB"):
            im = im.convert("L") if pages[0]["color"] in ("bw", "gray") else im.convert("RGB")
        out.append(im)
        hows.append("PIL")
    res = []
    for i, im in enumerate(out):
        png = f"{name}.p{i + 1}.png"
        im.save(os.path.join(ref_dir, png), optimize=False, compress_level=6)
        res.append((i + 1, png, im, hows[i]))
    return res


def compare(ref, intended):
    if intended is None:
        return None
    a = np.asarray(intended.convert(ref.mode) if intended.mode != ref.mode else intended, dtype=np.int16)
    b = np.asarray(ref, dtype=np.int16)
    if a.shape != b.shape:
        return {"equal": False, "shape_ref": list(b.shape), "shape_src": list(a.shape)}
    d = np.abs(a - b)
    return {"equal": bool(d.max() == 0), "mean_abs": round(float(d.mean()), 4), "frac_diff": round(float((d > 0).mean()), 5)}


# --------------------------------------------------------------------------------------------------- job logic
_MASTERS = None


def _init(masters_meta):
    global _MASTERS
    _MASTERS = masters_meta


def load_master(meta):
    m = dict(meta)
    with Image.open(meta["png"]) as im:
        m["img"] = im.copy()
    return m


def do_job(job):
    cls, fname, idxs, seed, out_root = job
    rng, seed32 = sub_rng(seed, cls, fname)
    ms = [load_master(_MASTERS[i]) for i in idxs]
    cdir = os.path.join(out_root, "pages", cls)
    base = os.path.join(cdir, fname)
    t0 = time.time()
    with tempfile.TemporaryDirectory(dir=os.path.join(out_root, ".work")) as tmp:
        if cls.startswith("augraphy_"):
            path, pages = c_augraphy(ms, base, tmp, rng, cls, seed32)
        else:
            path, pages = IMPL[cls](ms, base, tmp, rng, cls)
    # check: the produced file renders, page count matches
    ext = os.path.splitext(path)[1].lower()
    if ext == ".pdf":
        n = int([l for l in sh(["pdfinfo", path]).splitlines() if l.startswith("Pages:")][0].split()[1])
        encs = pdf_encodings(path)
        for i, p in enumerate(pages):
            e = encs.get(i + 1, [])
            p["encodings"] = e
            lossy = any(x in ("jpeg", "jpx", "dct") for x in e)
            if p["lossy"] is None:
                p["lossy"] = lossy
            elif p["lossy"] != lossy:
                raise RuntimeError(f"{path} p{i + 1}: expected lossy={p['lossy']}, pdfimages says {e}")
    elif ext in (".tif", ".tiff"):
        info = sh(["tiffinfo", path])
        n = info.count("TIFF Directory at offset")
        comps = [l.split(":", 1)[1].strip() for l in info.splitlines() if "Compression Scheme" in l]
        for i, p in enumerate(pages):
            p["encodings"] = [comps[i]] if i < len(comps) else []
            p["lossy"] = "JPEG" in p["encodings"][0] if p["encodings"] else p["lossy"]
    else:
        n = 1
        pages[0]["encodings"] = ["jpeg" if ext == ".jpg" else "png"]
    if n != len(pages):
        raise RuntimeError(f"{path}: {n} pages, expected {len(pages)}")
    rel = os.path.relpath(path, out_root).replace(os.sep, "/")
    refs = render_reference(path, n, pages, os.path.join(out_root, "reference"), rel)
    recs = []
    for (pg, png, im, how), p, m in zip(refs, pages, ms):
        if p["intended"] is None:  # produced by a tool (ImageMagick): the reference decode is what it wrote
            sm = {"equal": None, "note": "pixels produced by the tool itself"}
        else:
            sm = compare(im, p["intended"])
        # a renderer that silently shows an empty page (as tiff2pdf's JPEG pass-through does) must not pass
        a = np.asarray(im.convert("L"))
        if m["kind"] == "form" and (a < 128).mean() < 0.002:
            raise RuntimeError(f"{path} p{pg}: reference rendering has no ink ({how})")
        if p["color"] == "bw" and im.mode == "L":
            vals = np.unique(np.asarray(im))
            if len(vals) > 2:
                sm = dict(sm or {}, bw_render_levels=int(len(vals)))
        recs.append({"page": pg, "png": "reference/" + png, "info": {k: v for k, v in p.items() if k != "intended"},
                     "source_match": sm, "size": list(im.size), "mode": im.mode, "master": m["idx"],
                     "renderer": how})
    return {"cls": cls, "path": rel, "pages": recs, "secs": round(time.time() - t0, 2)}


# ---------------------------------------------------------------------------------------------------- masters
def decode_master(arg):
    i, t, work = arg
    src = os.path.join(EXAMPLES, t["path"])
    page = int(t["page"])
    fmt = t.get("format") or {}
    color = fmt.get("color", "gray")
    dpi = int(round(fmt.get("dpi") or (t.get("transform") or {}).get("dpi") or 200))
    size = (t.get("transform") or {}).get("image_size")
    img, how = None, None
    if src.lower().endswith(".pdf"):
        lst = [l.split() for l in sh(["pdfimages", "-f", str(page), "-l", str(page), "-list", src]).splitlines()[2:]]
        if len(lst) == 1:
            # -all: the image in its own encoding (JPEG as stored, decoded by PIL/libjpeg; others as PNG) - the
            # same pixels as -png, which is slow on 300 dpi pages
            with tempfile.TemporaryDirectory() as td:
                sh(["pdfimages", "-f", str(page), "-l", str(page), "-all", src, os.path.join(td, "x")])
                f = os.listdir(td)
                if len(f) == 1:
                    img = Image.open(os.path.join(td, f[0]))
                    img.load()
            if img is not None and size and list(img.size) != list(size):
                img = None
            how = "pdfimages -all"
        if img is None:
            with tempfile.TemporaryDirectory() as td:
                sh(["pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile", src,
                    os.path.join(td, "x")])
                f = os.listdir(td)[0]
                img = Image.open(os.path.join(td, f))
                img.load()
            how = f"pdftoppm -r {dpi}"
    else:
        with Image.open(src) as im:
            for k, p in enumerate(ImageSequence.Iterator(im), 1):
                if k == page:
                    img = p.copy()
                    break
        how = "PIL"
    if img.mode in ("1", "P", "LA", "I;16", "I"):
        img = img.convert("L")
    elif img.mode in ("RGBA", "CMYK"):
        img = img.convert("RGB")
    if color in ("gray", "bw") and img.mode == "RGB":
        img = img.convert("L")
    if color == "bw":
        img = Image.fromarray(np.where(np.asarray(img) < 128, 0, 255).astype(np.uint8))
    png = os.path.join(work, f"m{i:03d}.png")
    img.save(png, compress_level=1)
    return {"idx": i, "png": png, "color": color, "dpi": dpi, "size": list(img.size), "decoder": how,
            "base": f"{t['path']}#{page}", "kind": t["kind"]}


def decode_masters(truth, work, jobs=2):
    os.makedirs(work, exist_ok=True)
    with Pool(jobs) as pool:
        return pool.map(decode_master, [(i, t, work) for i, t in enumerate(truth, 1)])


def plan(truth, metas, seed, per_class):
    """Seeded, usage-balanced choice of master pages per class, grouped into files."""
    rng = random.Random(seed)
    use = [0] * len(metas)
    jobs = []
    for cls, (fam, tone_only, multi, _prod) in CLASSES.items():
        elig = [m["idx"] - 1 for m in metas if not (tone_only and m["color"] == "bw")]
        keyed = sorted(elig, key=lambda i: (use[i], rng.random()))
        pick = sorted(keyed[:min(per_class, len(elig))])
        for i in pick:
            use[i] += 1
        rng.shuffle(pick)
        groups = []
        while pick:
            k = rng.choice([1, 1, 2, 3]) if multi else 1
            groups.append(sorted(pick[:k]))
            pick = pick[k:]
        for g in sorted(groups):
            fname = "_".join(f"p{i + 1:03d}" for i in g) + "_" + cls
            jobs.append((cls, fname, g, seed))
    return jobs


def family(cls, color):
    f = CLASSES[cls][0]
    if f != "native":
        return f
    return {"bw": "threshold_1bit", "gray": "grey", "indexed_gray": "grey"}.get(color, "colour")


def tool_versions():
    v = {}
    for name, cmd in [("pdftoppm", ["pdftoppm", "-v"]), ("tiffcp", ["tiffinfo"]), ("gs", ["gs", "--version"]),
                      ("convert", ["convert", "-version"])]:
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            v[name] = p.stdout.decode(errors="replace").strip().splitlines()[0][:100]
        except Exception as e:  # noqa: BLE001
            v[name] = f"unavailable: {e}"
    import PIL
    import img2pdf
    import pikepdf
    v.update({"PIL": PIL.__version__, "numpy": np.__version__, "img2pdf": img2pdf.__version__,
              "pikepdf": pikepdf.__version__})
    try:
        import augraphy
        v["augraphy"] = augraphy.__version__
    except Exception as e:  # noqa: BLE001
        v["augraphy"] = f"unavailable: {e}"
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=7100, help="7100 = report-only set (default); 7200 = tuning set")
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-class", type=int, default=16, help="master pages per class (default 16)")
    ap.add_argument("--classes", help="comma-separated subset of classes (default: all)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep-work", action="store_true", help="keep OUT/.work (the decoded master pages)")
    a = ap.parse_args()

    out = os.path.abspath(a.out)
    if os.path.exists(out) and os.listdir(out):
        sys.exit(f"{out} exists and is not empty; remove it first")
    os.makedirs(os.path.join(out, ".work"), exist_ok=True)
    os.makedirs(os.path.join(out, "reference"), exist_ok=True)
    truth = [json.loads(l) for l in open(os.path.join(EXAMPLES, "truth.jsonl"), encoding="utf-8") if l.strip()]
    t0 = time.time()
    print(f"decoding {len(truth)} base pages ...", flush=True)
    metas = decode_masters(truth, os.path.join(out, ".work", "masters"), a.jobs)
    print(f"decoded {len(metas)} master pages in {time.time() - t0:.1f}s", flush=True)
    jobs = plan(truth, metas, a.seed, a.per_class)
    if a.classes:
        want = set(a.classes.split(","))
        bad = want - set(CLASSES)
        if bad:
            sys.exit(f"unknown classes: {sorted(bad)}")
        jobs = [j for j in jobs if j[0] in want]
    for cls in {j[0] for j in jobs}:
        os.makedirs(os.path.join(out, "pages", cls), exist_ok=True)
    jobs = [(c, f, g, s, out) for c, f, g, s in jobs]
    results = []
    with Pool(a.jobs, initializer=_init, initargs=(metas,)) as pool:
        for k, r in enumerate(pool.imap(do_job, jobs), 1):
            results.append(r)
            if k % 20 == 0 or k == len(jobs):
                print(f"  {k}/{len(jobs)} files, {time.time() - t0:.0f}s", flush=True)

    n_pages = 0
    with open(os.path.join(out, "truth.jsonl"), "w", encoding="utf-8") as tf, \
            open(os.path.join(out, "reference", "index.jsonl"), "w", encoding="utf-8") as xf:
        for r in results:
            cls = r["cls"]
            npf = len(r["pages"])
            for rec in r["pages"]:
                info = rec["info"]
                t = truth[rec["master"] - 1]
                line = json.loads(json.dumps(t))
                line["path"] = r["path"]
                line["page"] = rec["page"]
                line.setdefault("cancelled_rows", [])
                dpi = info["dpi"]
                dpi_xy = list(dpi) if isinstance(dpi, (list, tuple)) else [dpi, dpi]
                ext = os.path.splitext(r["path"])[1].lstrip(".")
                line["format"] = {"container": ext, "variant": cls, "color": info["color"],
                                  "dpi": dpi_xy[0] if dpi_xy[0] == dpi_xy[1] else dpi_xy,
                                  "dpi_meta": "wrong" if info.get("dpi_declared") else "ok",
                                  "pages_in_file": npf, "encodings": info.get("encodings", [])}
                if info.get("dpi_declared"):
                    line["format"]["dpi_declared"] = info["dpi_declared"]
                if info["transform"] != "same":
                    line["base_transform"] = line.get("transform")
                    line["transform"] = None
                    line["transform_valid"] = False
                    line["pixel_map"] = info["transform"]
                else:
                    line["transform_valid"] = line.get("transform") is not None
                line["degradations"] = list(t.get("degradations") or []) + [f"class:{cls}"]
                line["class"] = cls
                line["family"] = family(cls, info["color"])
                line["producer"] = CLASSES[cls][3]
                line["base"] = f"examples/{t['path']}#{t['page']}"
                line["params"] = info.get("params", {})
                line["seed"] = a.seed
                tf.write(json.dumps(line, ensure_ascii=False) + "\n")
                xf.write(json.dumps({"file": r["path"], "page": rec["page"], "png": rec["png"],
                                     "lossless": not info["lossy"], "dpi": dpi_xy, "mode": rec["mode"],
                                     "size": rec["size"], "color": info["color"], "class": cls,
                                     "renderer": rec["renderer"],
                                     "source_match": rec["source_match"]}) + "\n")
                n_pages += 1
    counts = {}
    for r in results:
        counts[r["cls"]] = counts.get(r["cls"], 0) + len(r["pages"])
    man = {"seed": a.seed, "policy": "7100 = report-only; 7200 = may be used for tuning",
           "per_class": a.per_class, "pages": n_pages, "files": len(results), "classes": counts,
           "class_defs": {c: {"family": f, "tone_only": t, "multi_page": mp, "producer": p}
                          for c, (f, t, mp, p) in CLASSES.items()},
           "masters": [{k: v for k, v in m.items() if k != "png"} for m in metas], "tools": tool_versions()}
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(man, fh, indent=1, ensure_ascii=False)
    if not a.keep_work:
        shutil.rmtree(os.path.join(out, ".work"), ignore_errors=True)
    print(f"wrote {n_pages} pages in {len(results)} files, {len(counts)} classes, {time.time() - t0:.0f}s -> {out}")


if __name__ == "__main__":
    main()
