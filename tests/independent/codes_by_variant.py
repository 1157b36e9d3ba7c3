#!/usr/bin/env python3
"""Code fields per field and truth variant, on the form pages that registered: accepted and right / fields, and
how many were accepted wrong (silent). Empty fields are left out (score.py counts them).

    python3 tests/independent/codes_by_variant.py --truth OUT/truth.jsonl --results RES/*/results.jsonl \
        [--dropped returned.csv.dropped.txt]

With --dropped (the codes returned_list.py left out of the list), dossier codes are split into those the list
holds (`listed`) and those it does not (`unlisted`): an unlisted code must never be accepted as a listed one
(`forced` counts those accepted with another value).
"""
import argparse
import collections
import json


def key(path, page):
    return (path.split("/")[-1], page)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--results", required=True, nargs="+")
    ap.add_argument("--dropped")
    a = ap.parse_args()
    dropped = set(open(a.dropped).read().split()) if a.dropped else None
    truth = {}
    for line in open(a.truth):
        t = json.loads(line)
        truth[key(t["path"], t["page"])] = t
    res = {}
    for f in a.results:
        for line in open(f):
            r = json.loads(line)
            res[key(r["source"]["path"], r["source"]["page"])] = r
    c = collections.defaultdict(lambda: [0, 0, 0])
    for k, t in truth.items():
        r = res.get(k)
        if t.get("kind") != "form" or not r or not r.get("registration"):
            continue
        for name, fv in (t.get("fields") or {}).items():
            f = (r.get("fields") or {}).get(name)
            if f is None or fv.get("variant") == "empty":
                continue
            variant = fv.get("variant")
            if dropped is not None and name == "dossier_code":
                variant += "/unlisted" if fv.get("value") in dropped else "/listed"
            row = c[(name, variant)]
            row[2] += 1
            if f["status"] == "accepted":
                row[0 if f["value"] == fv.get("value") else 1] += 1
    for (name, variant), (ok, bad, n) in sorted(c.items()):
        wrong = "forced" if variant.endswith("/unlisted") else "wrong"
        print(f"{name:16s} {variant:21s} {ok:4d}/{n:<4d} ({100 * ok / n:5.1f}%)  {wrong} {bad}")


if __name__ == "__main__":
    main()
