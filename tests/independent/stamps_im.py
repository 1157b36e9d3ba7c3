"""Office stamps drawn by ImageMagick, not by us: a second, independent stamp maker beside `stamps.py`.

Each stamp is drawn by `convert` (rectangular frame with two lines of text, oval with text, or round seal with a
star), in one of several inks (reds, orange-red, crimson, and blue or violet, which no colour rule can tell from a
pen), with patchy ink (a blurred noise mask), turned by a random angle, and multiplied over one of the shared
examples' single-image form pages, centred at a random place of its rating table. The page is then saved as PNG or
as a 4:2:0 JPEG (ImageMagick), and a share of pages is turned to grey by ImageMagick, as a grey scan of a stamped form
would be. The truth is the master's: a stamp is never a mark.

    python3 tests/independent/stamps_im.py --out /tmp/stim1 --seed 1
    phieu scan /tmp/stim1/pages --out /tmp/o --no-crops --quiet --today 2026-12-03
    python3 /tmp/percond.py /tmp/stim1/truth.jsonl /tmp/o/results.jsonl     # or score.py
"""
import argparse
import os
import random
import subprocess
import tempfile

from masters import EXAMPLES, single_image_forms, write_truth

FONTS = [
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/croscore/Arimo-Bold.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSansBold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Bold.ttf",
]
INKS = [  # (name, rgb)
    ("red", (205, 35, 45)),
    ("crimson", (180, 20, 60)),
    ("orange_red", (225, 70, 40)),
    ("dark_red", (150, 25, 35)),
    ("faded_red", (220, 110, 115)),
    ("blue", (40, 60, 170)),
    ("violet", (95, 45, 150)),
]
TEXTS = [("ĐÃ TIẾP NHẬN", "Ngày ..../..../2026"), ("ĐÃ NHẬN", "BỘ PHẬN MỘT CỬA"), ("BẢN SAO", "ĐÃ KIỂM TRA")]


def run(*args):
    subprocess.run(["convert", *map(str, args)], check=True, capture_output=True)


def stamp_image(rng, ppm, path):
    """A stamp on a transparent canvas; returns its size in px."""
    shape = rng.choice(["rect", "oval", "round"])
    name, ink = rng.choice(INKS)
    col = "rgb(%d,%d,%d)" % ink
    font = rng.choice(FONTS)
    t1, t2 = rng.choice(TEXTS)
    lw = rng.uniform(0.5, 1.0) * ppm
    if shape == "rect":
        w, h = rng.uniform(42, 60) * ppm, rng.uniform(16, 24) * ppm
    elif shape == "oval":
        w, h = rng.uniform(40, 55) * ppm, rng.uniform(24, 32) * ppm
    else:
        w = h = rng.uniform(30, 42) * ppm
    W, H = int(w + 4 * lw), int(h + 4 * lw)
    x0, y0, x1, y1 = 2 * lw, 2 * lw, W - 2 * lw, H - 2 * lw
    draw = ["-fill", "none", "-stroke", col, "-strokewidth", f"{lw:.1f}"]
    if shape == "rect":
        draw += ["-draw", f"roundrectangle {x0:.0f},{y0:.0f} {x1:.0f},{y1:.0f} {lw*2:.0f},{lw*2:.0f}"]
    else:
        cx, cy = W / 2, H / 2
        draw += ["-draw", f"ellipse {cx:.0f},{cy:.0f} {(x1-x0)/2:.0f},{(y1-y0)/2:.0f} 0,360"]
        draw += ["-strokewidth", f"{max(1.0, lw/2):.1f}",
                 "-draw", f"ellipse {cx:.0f},{cy:.0f} {(x1-x0)/2*0.8:.0f},{(y1-y0)/2*0.8:.0f} 0,360"]
    # ImageMagick's default 72 dpi makes a point a pixel: a cap height of a fifth of the stamp.
    pt1, pt2 = 0.3 * h, 0.17 * h
    text = ["-stroke", "none", "-fill", col, "-font", font, "-gravity", "center",
            "-pointsize", f"{pt1:.0f}", "-annotate", f"+0-{h*0.12:.0f}", t1,
            "-pointsize", f"{pt2:.0f}", "-annotate", f"+0+{h*0.2:.0f}", t2]
    if shape == "round":
        text += ["-pointsize", f"{pt2:.0f}", "-annotate", f"+0+{h*0.02:.0f}", "*"]
    run("-size", f"{W}x{H}", "xc:none", *draw, *text, path)
    # Patchy ink: a blurred noise mask thins the alpha in places.
    patch = rng.uniform(0.55, 0.95)
    run(path, "(", "-size", f"{W}x{H}", "xc:", "+noise", "Random", "-colorspace", "Gray", "-blur", "0x%.1f" % (ppm * 0.8),
        "-level", "35%,65%", "-evaluate", "max", f"{int(patch*100)}%", ")",
        "-compose", "DstIn", "-composite", path)
    ang = rng.uniform(-25, 25)
    run(path, "-background", "none", "-rotate", f"{ang:.1f}", path)
    return name, shape, ang


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--copies", type=int, default=2, help="stamped copies of each master page")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(os.path.join(a.out, "pages"), exist_ok=True)
    out = []
    tmp = tempfile.mkdtemp()
    for t, P, ppm in single_image_forms():
        for k in range(a.copies):
            sp = os.path.join(tmp, "stamp.png")
            ink, shape, ang = stamp_image(rng, ppm, sp)
            cx, cy = rng.uniform(95, 185), rng.uniform(90, 225)
            c = P(cx, cy)
            w, h = map(int, subprocess.run(["identify", "-format", "%w %h", sp], capture_output=True,
                                           text=True, check=True).stdout.split())
            grey = rng.random() < 0.3
            fmt = rng.choice(["png", "jpg"])
            base = t["path"].split(".")[0]
            name = f"{base}_st{k}_{ink}_{shape}{'_grey' if grey else ''}.{fmt}"
            args = [os.path.join(EXAMPLES, t["path"]), "-colorspace", "sRGB", "-type", "TrueColor", sp,
                    "-geometry", f"+{int(c[0] - w / 2)}+{int(c[1] - h / 2)}", "-compose", "Multiply",
                    "-composite"]
            if grey:
                args += ["-colorspace", "Gray"]
            if fmt == "jpg":
                args += ["-sampling-factor", "4:2:0", "-quality", str(rng.randint(70, 92))]
            run(*args, os.path.join(a.out, "pages", name))
            out.append(dict(t, path=name, page=1,
                            stress={"cond": f"stamp_{'grey' if grey else 'colour'}", "ink": ink, "shape": shape,
                                    "angle": round(ang, 1), "at_mm": [round(cx, 1), round(cy, 1)], "format": fmt}))
    write_truth(a.out, out)
    print(len(out), "pages")


if __name__ == "__main__":
    main()
