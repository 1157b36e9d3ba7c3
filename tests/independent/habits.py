"""Answers given the way the form did not ask, drawn by ImageMagick: the option circled (around its box and the start
of its label), or ticked beside its box, or ticked on its label. They go into the rows the shared examples' citizens
left blank, so the truth of such a row becomes "not blank": the reader must never accept it as skipped. Pages are
saved as PNG or JPEG.

    python3 tests/independent/habits.py --out /tmp/hab1 --seed 1
    phieu scan /tmp/hab1/pages --out /tmp/o --no-crops --quiet --today 2026-12-03
    python3 /tmp/percond.py /tmp/hab1/truth.jsonl /tmp/o/results.jsonl
"""
import argparse
import json
import math
import os
import random
import subprocess

from masters import EXAMPLES, single_image_forms, write_truth

TEMPLATES = os.path.join(os.path.dirname(__file__), "..", "..", "src", "forms", "templates")
PENS = ["rgb(25,45,160)", "rgb(20,20,30)", "rgb(40,70,190)"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(os.path.join(a.out, "pages"), exist_ok=True)
    templates = {n: json.load(open(os.path.join(TEMPLATES, n + ".json"))) for n in ["gtvt", "khdt"]}
    out = []
    for t, P, ppm in single_image_forms():
        blank = [r for r, v in t["answers"].items() if v is None and r not in (t.get("ambiguous_rows") or [])]
        if not blank:
            continue
        rows = {r["id"]: r for r in templates[t["template"]]["rows"]}
        answers = dict(t["answers"])
        draw = []
        habits = []
        for rid in blank:
            opt = rng.choice(rows[rid]["options"])
            b = opt["box"]
            habit = rng.choice(["circle", "circle", "beside", "on_label"])
            pen = rng.choice(PENS)
            w = rng.uniform(0.35, 0.6) * ppm
            if habit == "circle":
                # Around the box and the start of its label.
                cx, cy = b[0] + rng.uniform(5, 9), (b[1] + b[3]) / 2 + rng.uniform(-1.5, 0.5)
                rx, ry = rng.uniform(9, 12), rng.uniform(4.6, 6.0)
                start = rng.uniform(0, 360)
                pts = []
                for k in range(49):
                    ang = math.radians(start + k * 7.8)
                    pts.append(P(cx + rx * math.cos(ang), cy + ry * math.sin(ang)))
            elif habit == "beside":
                # A tick just right of or below the box, not touching it.
                x0, y0 = (b[2] + rng.uniform(0.8, 1.5), b[1] + 1) if rng.random() < 0.5 else (b[0] + 0.5, b[3] + rng.uniform(0.8, 1.2))
                pts = [P(x0, y0 + 1.5), P(x0 + 1.2, y0 + 3.0), P(x0 + 4.0, y0 - 0.5)]
            else:
                lx, ly = opt["label_at"]
                x0, y0 = lx + rng.uniform(2, 8), ly + rng.uniform(0, 2)
                pts = [P(x0, y0 + 1.5), P(x0 + 1.2, y0 + 3.0), P(x0 + 4.0, y0 - 0.5)]
            draw += ["-fill", "none", "-stroke", pen, "-strokewidth", "%.1f" % w,
                     "-draw", "polyline " + " ".join("%.1f,%.1f" % p for p in pts)]
            answers[rid] = opt["id"]
            habits.append([rid, opt["id"], habit])
        fmt = rng.choice(["png", "jpg"])
        name = f"{t['path'].split('.')[0]}_habit.{fmt}"
        args = ["convert", os.path.join(EXAMPLES, t["path"]), *draw]
        if fmt == "jpg":
            args += ["-quality", str(rng.randint(75, 92))]
        subprocess.run(args + [os.path.join(a.out, "pages", name)], check=True, capture_output=True)
        out.append(dict(t, path=name, page=1, answers=answers, stress={"cond": "habit", "habits": habits}))
    write_truth(a.out, out)
    print(len(out), "pages")


if __name__ == "__main__":
    main()
