"""Geometry beyond the shared examples: the examples' 52 form pages (and 8 non-forms) turned, keystoned, cut and
shrunk by ImageMagick, none of it drawn by our code. Each page gets one condition (seeded):

- `turn`: rotated 6-15 degrees either way onto a white, grey or black scanner background;
- `keystone`: a perspective distortion, each corner moved by up to 3.5% of the page;
- `cut`: 9-22 mm cut off one or two sides (one or two corner markers partly or wholly out of frame);
- `shrink`: reduced to 80-90% on a white page (a photocopier's "fit to page"), off-centre;
- `cut_turn`: 3-8 degrees turned and 9-16 mm cut off one side.

The truth is the master's, with `transform` set to null (`transform_valid: false`) and `stress` naming the
condition and its parameters.

    python3 tests/independent/geometry_stress.py --out /tmp/geo --seed 1
    phieu scan /tmp/geo/pages --out /tmp/o --no-crops --quiet --today 2026-12-03
    python3 /work/shared/forms/score.py --truth /tmp/geo/truth.jsonl --results /tmp/o/results.jsonl
"""
import argparse, json, os, random, subprocess, sys, tempfile
from multiprocessing import Pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_set import EXAMPLES, decode_master  # noqa: E402

CONDS = ["turn", "keystone", "cut", "shrink", "cut_turn"]


def im(args):
    subprocess.run(["convert"] + [str(a) for a in args], check=True, capture_output=True)


def one(job):
    i, t, meta, cond, seed, out = job
    rng = random.Random(seed * 1000003 + i)
    src = meta["png"]
    w, h = meta["size"]
    dpi = meta["dpi"]
    mm = dpi / 25.4
    bg = rng.choice(["white", "gray60", "black"])
    params = {"cond": cond}
    dst = os.path.join(out, "pages", f"g{i:03d}_{cond}.png")
    if cond == "turn":
        a = rng.uniform(6, 15) * rng.choice([-1, 1])
        params.update(angle=round(a, 2), background=bg)
        im([src, "-background", bg, "-rotate", f"{a:.3f}", "-density", dpi, "-units", "PixelsPerInch", dst])
    elif cond == "keystone":
        d = lambda s: rng.uniform(-0.035, 0.035) * s  # noqa: E731
        c = [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)]
        moved = [(x + d(w), y + d(h)) for x, y in c]
        pts = " ".join(f"{x},{y} {u:.1f},{v:.1f}" for (x, y), (u, v) in zip(c, moved))
        params.update(corners=[[round(u, 1), round(v, 1)] for u, v in moved], background=bg)
        im([src, "-background", bg, "-virtual-pixel", "background", "-distort", "Perspective", pts,
            "-density", dpi, "-units", "PixelsPerInch", dst])
    elif cond in ("cut", "cut_turn"):
        sides = rng.sample(["left", "right", "top", "bottom"], 1 if cond == "cut_turn" or rng.random() < 0.6 else 2)
        if len(sides) == 2 and {"left", "right"} == set(sides):
            sides = ["left", "top"]
        if len(sides) == 2 and {"top", "bottom"} == set(sides):
            sides = ["right", "bottom"]
        cuts = {s: rng.uniform(9, 22 if cond == "cut" else 16) for s in sides}
        x0 = int(cuts.get("left", 0) * mm)
        y0 = int(cuts.get("top", 0) * mm)
        x1 = w - int(cuts.get("right", 0) * mm)
        y1 = h - int(cuts.get("bottom", 0) * mm)
        args = [src]
        if cond == "cut_turn":
            a = rng.uniform(3, 8) * rng.choice([-1, 1])
            params.update(angle=round(a, 2), background=bg)
            args += ["-background", bg, "-rotate", f"{a:.3f}", "-gravity", "center", "-extent", f"{w}x{h}",
                     "+gravity"]
        args += ["-crop", f"{x1 - x0}x{y1 - y0}+{x0}+{y0}", "+repage"]
        params.update(cut_mm={k: round(v, 1) for k, v in cuts.items()})
        im(args + ["-density", dpi, "-units", "PixelsPerInch", dst])
    elif cond == "shrink":
        s = rng.uniform(0.80, 0.90)
        ox = rng.uniform(0.1, 0.9) * (1 - s) * w
        oy = rng.uniform(0.1, 0.9) * (1 - s) * h
        params.update(scale=round(s, 3), offset_px=[int(ox), int(oy)])
        im([src, "-resize", f"{s * 100:.2f}%", "-background", "white", "-gravity", "northwest", "-splice",
            f"{int(ox)}x{int(oy)}", "-extent", f"{w}x{h}", "-density", dpi, "-units", "PixelsPerInch", dst])
    t2 = dict(t)
    t2["path"] = os.path.basename(dst)
    t2["page"] = 1
    t2["base_transform"] = t.get("transform")
    t2["transform"] = None
    t2["transform_valid"] = False
    t2["stress"] = params
    t2["base"] = f"{t['path']}#{t['page']}"
    return t2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    os.makedirs(os.path.join(args.out, "pages"), exist_ok=True)
    truth = [json.loads(l) for l in open(os.path.join(EXAMPLES, "truth.jsonl"))]
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as work, Pool(args.jobs) as pool:
        metas = pool.map(decode_master, [(i, t, work) for i, t in enumerate(truth, 1)])
        jobs = [(i, t, m, rng.choice(CONDS), args.seed, args.out) for i, (t, m) in enumerate(zip(truth, metas), 1)]
        recs = pool.map(one, jobs)
    with open(os.path.join(args.out, "truth.jsonl"), "w") as f:
        for r in recs:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(len(recs), "pages")


if __name__ == "__main__":
    main()
