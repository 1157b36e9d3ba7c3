#!/usr/bin/env python3
"""Score a reader's results on the independent set, per input class and per family.

    python3 tests/independent/score_by_class.py --truth OUT/truth.jsonl --results RES/*/results.jsonl [--json m.json]

--results takes one or more results.jsonl files (one per class folder when each class was scanned on its own,
see tests/independent/README.md); they are concatenated.  The counting is /work/shared/forms/score.py's own
score(), run on each class's (and each family's) subset of the truth, so every definition in its docstring holds.

Columns (forms = truth pages of kind 'form'; rows = the 10 rating rows of every form page):
  pages     truth pages in the group (forms + blank + other)
  forms     form pages
  lost      forms not read as a form: no record, rejected or blank
  norec     of those, pages with no result record at all (not scanned, or the file failed to load)
  wpr       whole-page review: forms with status needs_review and not one row accepted
  tmpl      forms read as a form with the right template
  silent    rows accepted-wrong (any accepted choice on an ambiguous row counts) - the number that matters most
  auto      rows accepted-correct / non-ambiguous rows
  dc_wrong  dossier code accepted with a wrong value (silent)
  dc_ok     dossier code handled automatically and correctly (an empty truth code left missing counts) / forms
  nonform   blank and 'other' pages kept out of the forms (status blank or rejected) / non-form pages
  nf_acc    non-form pages accepted as forms (silent)
Families: grey, colour, threshold_1bit, halftone_1bit (from the truth's "family", else derived from the class).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import OrderedDict, defaultdict

SCORE_DIR = os.environ.get("PHIEU_SCORE_DIR", "/work/shared/forms")
sys.path.insert(0, SCORE_DIR)
try:
    import score as S  # noqa: E402  (the shared, stdlib-only scorer)
except ImportError as e:  # pragma: no cover
    sys.exit(f"cannot import score.py from {SCORE_DIR} (set PHIEU_SCORE_DIR): {e}")

HALFTONE = ("halftone_",)
FAMILIES = ("grey", "colour", "threshold_1bit", "halftone_1bit")


def family_of(t):
    if t.get("family"):
        return t["family"]
    cls = t.get("class", "")
    if cls.startswith(HALFTONE):
        return "halftone_1bit"
    color = (t.get("format") or {}).get("color")
    if color == "bw":
        return "threshold_1bit"
    if color in ("gray", "indexed_gray"):
        return "grey"
    return "colour"


def whole_page_review(truth, res_by_key):
    n = 0
    for t in truth:
        if t["kind"] != "form":
            continue
        r = res_by_key.get((t["path"], int(t["page"])))
        if not r or r.get("status") != "needs_review":
            continue
        ans = r.get("answers") or {}
        if not any(isinstance(a, dict) and a.get("status") == "accepted" for a in ans.values()):
            n += 1
    return n


def group_metrics(truth, res_by_key, truth_dir):
    keys = {(t["path"], int(t["page"])) for t in truth}
    results = [r for k, r in res_by_key.items() if k in keys]
    M = S.score(truth, results, truth_dir)
    a, f, nf = M["answers"], M["forms"], M["non_forms"]
    d = M["fields"].get("dossier_code", {})
    ne = a["rows"] - a["rows_ambiguous"]
    excl = sum(nf.get(f"{k}_correct", 0) + nf.get(f"{k}_excluded_other_status", 0) for k in ("blank", "other"))
    return {
        "pages": len(truth), "forms": f["n"], "lost": M["forms_lost"],
        "norec": sum(1 for t in truth if t["kind"] == "form" and (t["path"], int(t["page"])) not in res_by_key), "wpr": whole_page_review(truth, res_by_key),
        "tmpl": f["template_correct"], "rows": a["rows"], "rows_ambiguous": a["rows_ambiguous"],
        "silent": a["accepted_wrong"], "auto": a["accepted_correct"], "auto_den": ne,
        "review": a["review"], "review_ambiguous": a["review_ambiguous"], "missing": a["missing"],
        "dc_wrong": d.get("accepted_wrong", 0), "dc_ok": d.get("auto_correct", 0), "dc_n": d.get("n", 0),
        "nonform_n": nf["n"], "nonform_excl": excl,
        "nonform_accepted": nf.get("blank_taken_as_form_accepted", 0) + nf.get("other_taken_as_form_accepted", 0),
        "forms_auto_correct": f["auto_correct"], "forms_with_silent_error": f["with_silent_error"],
        "no_result": M["pages"]["missing_results"],
    }


def pct(a, b):
    return f"{100.0 * a / b:5.1f}%" if b else "   - "


HEAD = (f"{'':22s} {'pages':>5s} {'forms':>5s} {'lost':>4s} {'norec':>5s} {'wpr':>4s} {'tmpl':>4s} {'silent':>12s} "
        f"{'auto':>14s} {'dc_wrong':>8s} {'dc_ok':>9s} {'nonform':>7s} {'nf_acc':>6s}")


def row(name, m):
    return (f"{name:22s} {m['pages']:5d} {m['forms']:5d} {m['lost']:4d} {m['norec']:5d} {m['wpr']:4d} {m['tmpl']:4d} "
            f"{m['silent']:4d} {pct(m['silent'], m['rows']):>7s} {m['auto']:5d} {pct(m['auto'], m['auto_den']):>8s} "
            f"{m['dc_wrong']:8d} {m['dc_ok']:4d}/{m['dc_n']:<4d} {m['nonform_excl']:3d}/{m['nonform_n']:<3d} "
            f"{m['nonform_accepted']:6d}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--results", required=True, nargs="+", help="one or more results.jsonl")
    ap.add_argument("--json", help="write all group metrics here")
    a = ap.parse_args()

    truth = S.load_jsonl(a.truth)
    truth_dir = os.path.dirname(os.path.abspath(a.truth))
    results = []
    for p in a.results:
        results += S.load_jsonl(p)
    match = S.Matcher(truth_dir, [t["path"] for t in truth])
    tkeys = {(t["path"], int(t["page"])) for t in truth}
    res_by_key, unmatched, dup = {}, 0, 0
    for r in results:
        src = r.get("source") or {}
        p = match(src.get("path"))
        try:
            k = (p, int(src.get("page", 1)))
        except (TypeError, ValueError):
            k = (p, None)
        if k not in tkeys:
            unmatched += 1
            continue
        if k in res_by_key:
            dup += 1
            continue
        res_by_key[k] = r

    by_class, by_fam = OrderedDict(), defaultdict(list)
    for t in truth:
        by_class.setdefault(t.get("class", "?"), []).append(t)
        by_fam[family_of(t)].append(t)

    out = {"classes": {}, "families": {}, "all": None}
    print(f"truth pages {len(truth)}, results {len(results)} (matched {len(res_by_key)}, unmatched {unmatched}, "
          f"duplicates {dup}), truth pages without a result {len(tkeys) - len(res_by_key)}\n")
    print("per class" + " " * 13 + HEAD[22:])
    for cls in sorted(by_class):
        m = group_metrics(by_class[cls], res_by_key, truth_dir)
        out["classes"][cls] = m
        print(row(cls, m))
    print("\nper family" + " " * 12 + HEAD[22:])
    for fam in list(FAMILIES) + sorted(set(by_fam) - set(FAMILIES)):
        if fam not in by_fam:
            continue
        m = group_metrics(by_fam[fam], res_by_key, truth_dir)
        out["families"][fam] = m
        print(row(fam, m))
    m = group_metrics(truth, res_by_key, truth_dir)
    out["all"] = m
    print("-" * len(HEAD))
    print(row("ALL", m))
    print(f"\nrows: {m['rows']} ({m['rows_ambiguous']} ambiguous in truth); needs_review {m['review']} "
          f"+ on ambiguous {m['review_ambiguous']}; missing {m['missing']}; forms fully automatic and correct "
          f"{m['forms_auto_correct']}/{m['forms']}; forms with a silent error {m['forms_with_silent_error']}")
    print("silent = rows accepted-wrong (count, % of all rows); auto = accepted-correct (count, % of non-ambiguous "
          "rows); wpr = needs_review pages with no row accepted; lost = no record / rejected / blank")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
