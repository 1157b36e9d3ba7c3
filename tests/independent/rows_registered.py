#!/usr/bin/env python3
"""Rating rows on the form pages that registered and were read, per family: non-ambiguous rows, how many were
accepted and right (automatic), and how many accepted wrong (silent); and form pages with no rows read.

    python3 tests/independent/rows_registered.py --truth OUT/truth.jsonl --results RES/*/results.jsonl
"""
import argparse
import collections
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--results", required=True, nargs="+")
    a = ap.parse_args()
    truth = {}
    for line in open(a.truth):
        t = json.loads(line)
        truth[(t["path"].split("/")[-1], t["page"])] = t
    fam = collections.defaultdict(lambda: [0, 0, 0, 0])
    for f in a.results:
        for line in open(f):
            r = json.loads(line)
            t = truth[(r["source"]["path"].split("/")[-1], r["source"]["page"])]
            if t["kind"] != "form":
                continue
            row = fam[t.get("family", "all")]
            if not r.get("registration") or not r["answers"]:
                row[3] += 1
                continue
            amb = set(t.get("ambiguous_rows") or [])
            for k, v in t["answers"].items():
                if k in amb:
                    continue
                row[0] += 1
                got = r["answers"].get(k)
                if got and got["status"] == "accepted":
                    row[1 if got["choice"] == v else 2] += 1
    for k in sorted(fam):
        n, ok, silent, lost = fam[k]
        print(f"{k:15s} rows on registered pages {n:5d}  automatic {ok:5d} ({100 * ok / max(n, 1):.1f}%)  "
              f"silent {silent}  pages without rows {lost}")


if __name__ == "__main__":
    main()
