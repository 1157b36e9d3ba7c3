"""Write the Rust integration-test fixtures: held-out line crops + labels + greedy ONNX output.

Only grammar-valid dossier / enterprise codes are kept (the generator also makes
random strings for training robustness; those are not useful to the Rust grammar).

  python fixtures.py --model ../codes.onnx --out ../../tests/fixtures/codes
"""
import argparse
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402
from eval import DOSSIER, ENTERPRISE, recognise, samples, session  # noqa: E402


def valid_code(t):
    """Only grammar-valid codes (real date, H/letter slot) go into the fixtures."""
    if ENTERPRISE.match(t):
        return True
    if not DOSSIER.match(t):
        return False
    import datetime
    d = t[14:20]
    try:
        datetime.date(2000 + int(d[:2]), int(d[2:4]), int(d[4:6]))
    except ValueError:
        return False
    return 18 <= int(d[:2]) <= 26

HERE = os.path.dirname(os.path.abspath(__file__))


def relabel(sess, out):
    """A new model reads the same crops: the Rust test then checks the Rust path against this model."""
    import numpy as np
    expected = []
    for line in open(os.path.join(out, "labels.jsonl")):
        r = json.loads(line)
        grey = np.asarray(Image.open(os.path.join(out, r["file"])).convert("L"))
        pred, wp = recognise(sess, grey)
        w = gen.resize_bilinear_h32(grey).shape[1]
        expected.append({"file": r["file"], "greedy": pred, "crop_w": int(grey.shape[1]),
                         "crop_h": int(grey.shape[0]), "resized_w": int(w), "padded_w": int(wp),
                         "seq_len": int(wp // gen.DOWNSAMPLE), "correct": pred == r["text"]})
    with open(os.path.join(out, "expected_greedy.jsonl"), "w") as f:
        for r in expected:
            f.write(json.dumps(r) + "\n")
    print("relabelled:", len(expected), "correct:", sum(r["correct"] for r in expected))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "..", "codes.onnx"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "tests", "fixtures", "codes"))
    ap.add_argument("--relabel", action="store_true",
                    help="keep the committed crops and labels; only recompute expected_greedy.jsonl with --model")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    sess = session(a.model)
    if a.relabel:
        relabel(sess, a.out)
        return
    labels, expected = [], []
    plan = [("eval_printed", "printed", 14), ("eval_sticker", "sticker", 13), ("eval_hand", "hand", 13)]
    for split, variant, n in plan:
        # seed offset 5000: disjoint from the eval.py sample stream
        got = []
        for v, text, grey in samples(split, 20 * n, seed_offset=5000):
            if valid_code(text):
                got.append((v, text, grey))
            if len(got) == n:
                break
        for i, (v, text, grey) in enumerate(got):
            fn = "%s_%02d.png" % (variant, i)
            Image.fromarray(grey, mode="L").save(os.path.join(a.out, fn))
            pred, wp = recognise(sess, grey)
            w = gen.resize_bilinear_h32(grey).shape[1]
            labels.append({"file": fn, "text": text, "variant": variant})
            expected.append({"file": fn, "greedy": pred, "crop_w": int(grey.shape[1]), "crop_h": int(grey.shape[0]),
                             "resized_w": int(w), "padded_w": int(wp), "seq_len": int(wp // gen.DOWNSAMPLE),
                             "correct": pred == text})
    with open(os.path.join(a.out, "labels.jsonl"), "w") as f:
        for r in labels:
            f.write(json.dumps(r) + "\n")
    with open(os.path.join(a.out, "expected_greedy.jsonl"), "w") as f:
        for r in expected:
            f.write(json.dumps(r) + "\n")
    print("fixtures:", len(labels), "correct:", sum(r["correct"] for r in expected))


if __name__ == "__main__":
    main()
