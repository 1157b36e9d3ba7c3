#!/usr/bin/env python3
"""Tesseract baseline on the same labelled code crops our model is measured on.

    python3 models/bench_tesseract.py CROPS_DIR   (CROPS_DIR from `phieu synth --field-crops`, holding labels.jsonl)

Runs `tesseract CROP stdout --psm 7` with a character whitelist (one process per crop, one at a time) and
prints exact-match accuracy per variant plus mean wall time per line. Needs Debian's tesseract-ocr.
"""
import json, os, subprocess, sys, time
from collections import defaultdict

WHITELIST = "0123456789.-ABCDEFGHIJKLMNOPQRSTUVWXYZ"

def main():
    d = sys.argv[1]
    rows = [json.loads(l) for l in open(os.path.join(d, "labels.jsonl"), encoding="utf-8")]
    agg = defaultdict(lambda: [0, 0])
    total = 0.0
    for r in rows:
        path = os.path.join(d, os.path.basename(r["file"]))
        t = time.perf_counter()
        out = subprocess.run(["tesseract", path, "stdout", "--psm", "7", "-c", f"tessedit_char_whitelist={WHITELIST}"],
                             capture_output=True, text=True, env={**os.environ, "OMP_THREAD_LIMIT": "1"}).stdout
        total += time.perf_counter() - t
        got = "".join(out.split())
        a = agg[r["variant"]]
        a[0] += 1
        a[1] += got == r["text"]
    print(f"{len(rows)} crops, tesseract {subprocess.run(['tesseract', '--version'], capture_output=True, text=True).stdout.splitlines()[0]}")
    print(f"mean wall time per line (incl. process start): {1000 * total / max(len(rows), 1):.1f} ms")
    for v, (n, ok) in sorted(agg.items()):
        print(f"  {v:12s} n={n:5d} exact {100.0 * ok / n:6.2f}%")

if __name__ == "__main__":
    main()
