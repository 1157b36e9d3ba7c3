#!/usr/bin/env python3
"""Reliability of the row confidence, per family: how often the machine's proposal is right in each confidence bin.

    python3 tests/independent/reliability.py --truth OUT/truth.jsonl --results RES/*/results.jsonl [--cut 0.9]

Rows: every rating row of a form page that was read (a record with answers), ambiguous rows excluded (for them
no proposal is right). A row's proposal is its `choice` (null = skipped) and its confidence the record's
`confidence`. Per family and bin it prints: rows, rows whose proposal is right, observed accuracy, rows accepted
and accepted rows that are right. With --cut C it also prints, per family, the rows that only the confidence
decides (accepted, or sent to review as `low_confidence`) at or above C and how many are wrong: the silent error
rate if C were the review threshold. Rows sent to review by a rule (two marks, a faint box, a page-level
reason) are decided by that rule whatever their confidence and are left out of that line.

Families are the ones of score_by_class.py (grey, colour, threshold_1bit, halftone_1bit); `--by class` groups by
class instead.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import score_by_class as SC  # noqa: E402

S = SC.S
BINS = [0.0, 0.5, 0.8, 0.9, 0.93, 0.96, 0.98, 0.995, 1.0001]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--results", required=True, nargs="+")
    ap.add_argument("--cut", type=float, default=0.9)
    ap.add_argument("--by", choices=("family", "class"), default="family")
    a = ap.parse_args()
    truth = S.load_jsonl(a.truth)
    tdir = os.path.dirname(os.path.abspath(a.truth))
    match = S.Matcher(tdir, [t["path"] for t in truth])
    tk = {(t["path"], int(t["page"])): t for t in truth}
    # family -> bin -> [n, right, accepted]
    table = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0]))
    above = defaultdict(lambda: [0, 0])
    for p in a.results:
        for r in S.load_jsonl(p):
            src = r.get("source") or {}
            t = tk.get((match(src.get("path")), int(src.get("page", 1))))
            if not t or t["kind"] != "form" or not r.get("answers"):
                continue
            group = SC.family_of(t) if a.by == "family" else t.get("class", "?")
            for row, ans in r["answers"].items():
                if row in (t.get("ambiguous_rows") or []):
                    continue
                c = float(ans.get("confidence") or 0.0)
                right = ans.get("choice") == t["answers"].get(row)
                b = next(i for i in range(len(BINS) - 1) if BINS[i] <= c < BINS[i + 1])
                cell = table[group][b]
                cell[0] += 1
                cell[1] += right
                accepted = ans.get("status") == "accepted"
                cell[2] += accepted
                cell[3] += accepted and right
                by_confidence = accepted or ans.get("reason") == "low_confidence"
                if c >= a.cut and by_confidence:
                    above[group][0] += 1
                    above[group][1] += right
    for group in sorted(table):
        print(f"\n{group}")
        print(f"  {'confidence':>13s} {'rows':>6s} {'right':>6s} {'accuracy':>9s} {'accepted':>9s} {'acc-right':>9s}")
        for b in sorted(table[group]):
            n, ok, acc, acc_ok = table[group][b]
            hi = min(BINS[b + 1], 1.0)
            print(f"  [{BINS[b]:.3f},{hi:.3f}{']' if hi == 1.0 else ')'} {n:6d} {ok:6d} {ok / n:9.4f} {acc:9d} {acc_ok:9d}")
        n, ok = above[group]
        if n:
            print(f"  decided by confidence at or above {a.cut}: {n} rows, {n - ok} wrong ({100 * (n - ok) / n:.3f}%)")


if __name__ == "__main__":
    main()
