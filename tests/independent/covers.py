"""Things lying over the form when it was scanned, drawn by ImageMagick: a sticky note (yellow, pink, green or
blue), a strip of correction tape or fluid (white), a torn-off corner (the scanner's lid showing, grey or black),
and a folded-over corner (the paper's blank back). Each is placed at a random spot of one of the shared examples'
single-image form pages: over the rating table, over the code fields, or anywhere. Pages are saved as PNG or JPEG.
The truth is the master's: whatever a cover hides, a person must be asked, never told it was blank.

    python3 tests/independent/covers.py --out /tmp/cov1 --seed 1
    phieu scan /tmp/cov1/pages --out /tmp/o --no-crops --quiet --today 2026-12-03
    python3 /tmp/percond.py /tmp/cov1/truth.jsonl /tmp/o/results.jsonl
"""
import argparse
import os
import random
import subprocess

import numpy as np

from masters import EXAMPLES, single_image_forms, write_truth

NOTES = ["rgb(252,240,140)", "rgb(250,200,215)", "rgb(200,240,190)", "rgb(190,220,250)"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--copies", type=int, default=2)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(os.path.join(a.out, "pages"), exist_ok=True)
    out = []
    for t, P, ppm in single_image_forms():
        def poly(pts):
            return "polygon " + " ".join("%d,%d" % P(x, y) for x, y in pts)

        for k in range(a.copies):
            kind = rng.choice(["note", "note", "tape", "torn", "fold"])
            where = rng.choice(["table", "table", "codes", "anywhere"])
            if where == "table":
                cx, cy = rng.uniform(100, 175), rng.uniform(85, 230)
            elif where == "codes":
                cx, cy = rng.uniform(60, 150), rng.uniform(45, 62)
            else:
                cx, cy = rng.uniform(20, 190), rng.uniform(20, 280)
            draw = []
            if kind == "note":
                w, h = rng.uniform(35, 76), rng.uniform(35, 76)
                ang = np.radians(rng.uniform(-12, 12))
                c, s = np.cos(ang), np.sin(ang)
                pts = [(cx + c * dx - s * dy, cy + s * dx + c * dy)
                       for dx, dy in [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]]
                col = rng.choice(NOTES)
                draw = ["-fill", col, "-stroke", "rgb(170,170,150)", "-strokewidth", "1", "-draw", poly(pts)]
            elif kind == "tape":
                w, h = rng.uniform(30, 60), rng.uniform(6, 12)
                pts = [(cx - w / 2, cy - h / 2), (cx + w / 2, cy - h / 2), (cx + w / 2, cy + h / 2), (cx - w / 2, cy + h / 2)]
                draw = ["-fill", "rgb(253,253,250)", "-stroke", "none", "-draw", poly(pts)]
            elif kind == "torn":
                # A corner torn away along a ragged line: the lid behind it is grey or black.
                corner = rng.choice([(0, 0), (210, 0), (0, 297), (210, 297)])
                d = rng.uniform(25, 60)
                sx = 1 if corner[0] == 0 else -1
                sy = 1 if corner[1] == 0 else -1
                pts = [corner, (corner[0] + sx * d, corner[1])]
                for i in range(1, 8):
                    f = i / 8
                    pts.append((corner[0] + sx * d * (1 - f) + rng.uniform(-2, 2), corner[1] + sy * d * f + rng.uniform(-2, 2)))
                pts.append((corner[0], corner[1] + sy * d))
                pts = [(x - sx * 5, y - sy * 5) if (x, y) == corner else (x, y) for x, y in pts]
                col = rng.choice(["rgb(40,40,40)", "rgb(128,128,128)", "rgb(10,10,10)"])
                draw = ["-fill", col, "-stroke", "none", "-draw", poly(pts)]
                cx, cy = corner
            else:
                # A folded-over corner: the lid shows where the corner was, the flap's blank back lies inside.
                corner = rng.choice([(210, 0), (210, 297), (0, 297)])
                d = rng.uniform(30, 70)
                sx = 1 if corner[0] == 0 else -1
                sy = 1 if corner[1] == 0 else -1
                a1, a2 = (corner[0] + sx * d, corner[1]), (corner[0], corner[1] + sy * d)
                tri = [a1, a2, (corner[0] + sx * d, corner[1] + sy * d)]
                lid = rng.choice(["rgb(250,250,250)", "rgb(30,30,30)"])
                draw = ["-fill", lid, "-stroke", "none", "-draw", poly([corner, a1, a2]),
                        "-fill", "rgb(238,236,230)", "-stroke", "rgb(150,150,150)", "-strokewidth", "2",
                        "-draw", poly(tri)]
                cx, cy = corner
            fmt = rng.choice(["png", "jpg"])
            name = f"{t['path'].split('.')[0]}_c{k}_{kind}_{where}.{fmt}"
            args = ["convert", os.path.join(EXAMPLES, t["path"]), *draw]
            if fmt == "jpg":
                args += ["-quality", str(rng.randint(75, 92))]
            subprocess.run(args + [os.path.join(a.out, "pages", name)], check=True, capture_output=True)
            out.append(dict(t, path=name, page=1,
                            stress={"cond": f"{kind}_{where}", "at_mm": [round(cx, 1), round(cy, 1)]}))
    write_truth(a.out, out)
    print(len(out), "pages")


if __name__ == "__main__":
    main()
