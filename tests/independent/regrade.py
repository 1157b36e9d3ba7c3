"""Re-saves stress sets the way other scanners would have written them, with ImageMagick: each page at random as a
grey JPEG (quality 60-85) or as a 1-bit CCITT Group 4 TIFF thresholded at 45-65%. The truth is kept; `cond`
becomes the source set's first three letters and the new format (`cov_g4`, `hab_grey_jpg`, ...).

    python3 tests/independent/regrade.py --out /tmp/mix --seed 7 /tmp/hab1 /tmp/hab2 /tmp/cov1
    phieu scan /tmp/mix/pages --out /tmp/o --no-crops --quiet --today 2026-12-03
"""
import argparse
import json
import os
import random
import subprocess

from masters import write_truth


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("sets", nargs="+", help="folders with pages/ and truth.jsonl")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(os.path.join(a.out, "pages"), exist_ok=True)
    out = []
    for src in a.sets:
        tag = os.path.basename(os.path.normpath(src))
        for line in open(os.path.join(src, "truth.jsonl")):
            t = json.loads(line)
            base = t["path"].rsplit(".", 1)[0]
            page = os.path.join(src, "pages", t["path"])
            # No alpha: a 1-bit TIFF with an alpha sample is not a file any scanner writes.
            args = ["convert", page, "-alpha", "off", "-colorspace", "Gray"]
            if rng.random() < 0.5:
                mode, name = "g4", f"{tag}_{base}.tif"
                args += ["-threshold", f"{rng.randint(45, 65)}%", "-type", "Bilevel", "-compress", "Group4"]
            else:
                mode, name = "grey_jpg", f"{tag}_{base}.jpg"
                args += ["-quality", str(rng.randint(60, 85))]
            subprocess.run(args + [os.path.join(a.out, "pages", name)], check=True, capture_output=True)
            stress = dict(t.get("stress") or {}, cond=f"{tag[:3]}_{mode}")
            out.append(dict(t, path=name, stress=stress))
    write_truth(a.out, out)
    print(len(out), "pages")


if __name__ == "__main__":
    main()
