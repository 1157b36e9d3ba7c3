"""Office stamps (PIL): a red double ring with "ĐÃ NHẬN" pressed over the shared examples' single-image form pages,
once over the code fields and once over the rating table, at a seeded random place. The stamp's ring and letters
are not marks: the truth is the master's.

    python3 tests/independent/stamps.py --out /tmp/stamp --seed 5
    phieu scan /tmp/stamp/pages --out /tmp/o --no-crops --quiet --today 2026-12-03
    python3 /work/shared/forms/score.py --truth /tmp/stamp/truth.jsonl --results /tmp/o/results.jsonl
"""
import argparse
import os
import random

from PIL import Image, ImageDraw, ImageFont

from masters import EXAMPLES, single_image_forms, write_truth

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(os.path.join(a.out, "pages"), exist_ok=True)
    out = []
    for t, P, ppm in single_image_forms():
        im = Image.open(os.path.join(EXAMPLES, t["path"])).convert("RGB")
        for where in ["code", "table"]:
            ov = Image.new("RGBA", im.size, (0, 0, 0, 0))
            d = ImageDraw.Draw(ov)
            if where == "code":
                cx, cy = rng.uniform(60, 140), rng.uniform(50, 60)
            else:
                cx, cy = rng.uniform(110, 180), rng.uniform(90, 200)
            r = rng.uniform(14, 19) * ppm
            c = P(cx, cy)
            col = (rng.randint(170, 220), rng.randint(20, 60), rng.randint(30, 70), 200)
            w = max(2, int(0.8 * ppm))
            d.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], outline=col, width=w)
            d.ellipse([c[0] - 0.72 * r, c[1] - 0.72 * r, c[0] + 0.72 * r, c[1] + 0.72 * r], outline=col,
                      width=max(1, w // 2))
            d.text((c[0] - 0.55 * r, c[1] - 0.12 * r), "ĐÃ NHẬN", fill=col,
                   font=ImageFont.truetype(FONT, max(8, int(0.3 * r))))
            stamped = Image.alpha_composite(im.convert("RGBA"), ov).convert("RGB")
            name = t["path"].split(".")[0] + f"_stamp_{where}.png"
            stamped.save(os.path.join(a.out, "pages", name))
            t2 = dict(t, path=name, page=1, stress={"cond": "stamp_" + where, "at_mm": [round(cx, 1), round(cy, 1)]})
            out.append(t2)
    write_truth(a.out, out)
    print(len(out), "pages")


if __name__ == "__main__":
    main()
