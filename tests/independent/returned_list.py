#!/usr/bin/env python3
"""A returned-dossiers list for an evaluation set, built as a real day's list would look.

    python3 tests/independent/returned_list.py --truth OUT/truth.jsonl --out returned.csv [--drop 0.1] [--seed 1]

Every dossier code of the set's forms is listed, with its same-day neighbours: the same agency and date with
sequence numbers up to --neighbours either side (the same agency returns ...-0238 and ...-0239 on one day). A
share --drop of the codes is left out of the list (their neighbours stay), to measure that a code missing from
the list is never forced onto a listed neighbour; those codes are written to OUT.dropped.txt.
"""
import argparse
import json
import random

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--truth", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--drop", type=float, default=0.1)
ap.add_argument("--neighbours", type=int, default=20)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()
rng = random.Random(a.seed)
codes = set()
for line in open(a.truth, encoding="utf-8"):
    t = json.loads(line)
    v = ((t.get("fields") or {}).get("dossier_code") or {}).get("value")
    if t.get("kind") == "form" and v:
        codes.add(v)
codes = sorted(codes)
dropped = {c for c in codes if rng.random() < a.drop}
listed = set()
for c in codes:
    head, seq = c.rsplit("-", 1)
    n = int(seq)
    for k in range(max(0, n - a.neighbours), min(9999, n + a.neighbours) + 1):
        listed.add(f"{head}-{k:04d}")
listed -= dropped
with open(a.out, "w", encoding="utf-8") as f:
    f.write("code,department,counter,officer,returned\n")
    for c in sorted(listed):
        f.write(f"{c},,,,\n")
with open(a.out + ".dropped.txt", "w", encoding="utf-8") as f:
    f.write("".join(c + "\n" for c in sorted(dropped)))
print(f"{len(listed)} listed codes ({len(codes)} on the forms, {len(dropped)} of them left out)")
