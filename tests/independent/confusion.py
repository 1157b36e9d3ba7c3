#!/usr/bin/env python3
"""Row confusion table per family: truth (a, b, c, -) against what the reader did (accepted a/b/c/-, or review),
plus the review reasons and the rows lost with their page.

    python3 tests/independent/confusion.py --truth OUT/truth.jsonl --results RES/*/results.jsonl

Rows: every rating row of every form page in the truth, ambiguous rows counted apart ("ambiguous: n, accepted k";
k must be 0). "-" is a skipped row (null). A form page with no record or no answers counts its rows as "lost".
Families are the ones of score_by_class.py; `--by class` groups by class instead.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import score_by_class as SC  # noqa: E402

S = SC.S
COLS = ["a", "b", "c", "-", "review", "lost"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--results", required=True, nargs="+")
    ap.add_argument("--by", choices=("family", "class"), default="family")
    a = ap.parse_args()
    truth = S.load_jsonl(a.truth)
    tdir = os.path.dirname(os.path.abspath(a.truth))
    match = S.Matcher(tdir, [t["path"] for t in truth])
    res = {}
    for p in a.results:
        for r in S.load_jsonl(p):
            src = r.get("source") or {}
            res[(match(src.get("path")), int(src.get("page", 1)))] = r
    table = defaultdict(lambda: defaultdict(Counter))
    reasons = defaultdict(Counter)
    amb = defaultdict(lambda: [0, 0])
    for t in truth:
        if t["kind"] != "form":
            continue
        g = SC.family_of(t) if a.by == "family" else t.get("class", "?")
        r = res.get((t["path"], int(t["page"])))
        answers = (r or {}).get("answers") or {}
        for row, want in t["answers"].items():
            got = answers.get(row)
            if row in (t.get("ambiguous_rows") or []):
                amb[g][0] += 1
                amb[g][1] += bool(got and got.get("status") == "accepted")
                continue
            w = want or "-"
            if not got:
                table[g][w]["lost"] += 1
                reasons[g]["lost:" + ",".join((r or {}).get("reasons") or ["no record"])] += 1
            elif got.get("status") == "accepted":
                table[g][w][got.get("choice") or "-"] += 1
            else:
                table[g][w]["review"] += 1
                reasons[g][got.get("reason") or "?"] += 1
    for g in sorted(table):
        print(g)
        print("  truth " + "".join(f"{c:>8}" for c in COLS))
        for w in ["a", "b", "c", "-"]:
            print(f"  {w:>5} " + "".join(f"{table[g][w][c]:>8}" for c in COLS))
        print("  review/lost reasons: " + ", ".join(f"{k} {v}" for k, v in reasons[g].most_common()))
        print(f"  ambiguous rows: {amb[g][0]}, accepted {amb[g][1]}")
        print()


if __name__ == "__main__":
    main()
