"""Evaluate codes.onnx in onnxruntime (1 thread) on freshly generated held-out lines.

Sets (all with the training degradation mix of gen.py, greedy decoding):
  eval_printed : held-out font families, machine-printed
  eval_sticker : held-out font families, printed sticker (rotated +-4 deg, edges)
  eval_hand    : MNIST TEST digits + drawn '.', '-', 'H'
Each sample goes through the exact contract: grey uint8 crop -> gen.preprocess()
(bilinear, no antialias, height 32, lum-0.5, right-pad -0.5 to a multiple of 50).

  python eval.py --model ../codes.onnx --n 1000 --json ../eval_results.json
"""
import argparse
import json
import os
import random
import re
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402

DOSSIER = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}-\d{6}-\d{4}$")
ENTERPRISE = re.compile(r"^\d{10}(-\d{3})?$")

HERE = os.path.dirname(os.path.abspath(__file__))


def greedy(logp):  # [T, C]
    best = logp.argmax(-1)
    out, prev = [], 0
    for c in best.tolist():
        if c != prev and c != 0:
            out.append(gen.ALPHABET[c - 1])
        prev = c
    return "".join(out)


def lev(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def recognise(sess, grey):
    x = gen.preprocess(grey)
    lp = sess.run(None, {"line_image": x})[0][:, 0]
    return greedy(lp), x.shape[3]


def samples(split, n, seed_offset=0):
    g = gen.Generator(split)
    rng = random.Random(gen.SPLITS[split][3] * 7919 + 17 + seed_offset)
    for _ in range(n):
        yield g.sample(rng)


def run_set(sess, split, n):
    ok = cerr = ctot = 0
    kinds = {}
    t_inf = 0.0
    widths = []
    errors = []
    for v, text, grey in samples(split, n):
        t = time.perf_counter()
        pred, wp = recognise(sess, grey)
        t_inf += time.perf_counter() - t
        widths.append(wp)
        e = lev(pred, text)
        ok += e == 0
        cerr += e
        ctot += len(text)
        kind = "dossier" if DOSSIER.match(text) else ("enterprise" if ENTERPRISE.match(text) else "other")
        k = kinds.setdefault(kind, [0, 0])
        k[0] += e == 0
        k[1] += 1
        if e and len(errors) < 15:
            errors.append({"text": text, "pred": pred})
    return {
        "n": n,
        "exact_match": ok / n,
        "char_accuracy": 1 - cerr / ctot,
        "exact_by_kind": {k: {"n": v[1], "exact": v[0] / v[1]} for k, v in kinds.items()},
        "ms_per_line_incl_preprocess": 1000 * t_inf / n,
        "mean_padded_width": float(np.mean(widths)),
        "sample_errors": errors,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "..", "codes.onnx"))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--sets", default="eval_printed,eval_sticker,eval_hand")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    sess = session(a.model)
    # pure model latency at typical widths
    lat = {}
    for w in (200, 300, 400):
        x = (np.random.default_rng(0).random((1, 1, 32, w), dtype=np.float32) - 0.5)
        for _ in range(3):
            sess.run(None, {"line_image": x})
        t = time.perf_counter()
        for _ in range(30):
            sess.run(None, {"line_image": x})
        lat["W%d" % w] = 1000 * (time.perf_counter() - t) / 30
    res = {"model": os.path.abspath(a.model), "onnxruntime": ort.__version__, "threads": 1,
           "ms_per_line_model_only": lat, "sets": {}}
    print("latency ms/line (model only, 1 thread):", lat, flush=True)
    for s in a.sets.split(","):
        r = run_set(sess, s, a.n)
        res["sets"][s] = r
        print("%-13s n=%d exact=%.4f char=%.4f ms/line=%.2f by_kind=%s" % (
            s, r["n"], r["exact_match"], r["char_accuracy"], r["ms_per_line_incl_preprocess"],
            {k: round(v["exact"], 4) for k, v in r["exact_by_kind"].items()}), flush=True)
        for e in r["sample_errors"][:6]:
            print("    %s -> %s" % (e["text"], e["pred"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
