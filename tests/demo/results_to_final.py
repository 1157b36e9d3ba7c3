#!/usr/bin/env python3
"""Stand-in for `phieu export` (branch `review`) used only for the import/report demo until it lands:
turns a scan's OUT/results.jsonl into phieu-final/1 records with the machine's values, listing every
needs_review value as `unresolved` (so `phieu import` refuses them unless --allow-unreviewed).

usage: results_to_final.py OUT_DIR > final.jsonl
"""
import json
import sys

out = sys.argv[1]
batch = json.load(open(f"{out}/manifest.json"))["batch_id"]
POINTS = {"a": 2, "b": 1, "c": 0}
for line in open(f"{out}/results.jsonl", encoding="utf-8"):
    r = json.loads(line)
    if r["status"] not in ("accepted", "needs_review") or not r.get("template"):
        continue
    src = r["source"]
    unresolved = []

    def final(kind, key, value, v):
        if v.get("status") == "needs_review":
            unresolved.append({"source": src, "kind": kind, "key": key})
        return {"value": value, "decided_by": "machine", "confidence": v.get("confidence", 0.0)}

    fields = {k: final("field", k, v.get("value"), v) for k, v in r.get("fields", {}).items()}
    answers = {k: final("answer", k, v.get("choice"), v) for k, v in r.get("answers", {}).items()}
    if r["status"] == "needs_review" and not unresolved:
        unresolved.append({"source": src, "kind": "page", "key": "page"})
    crit = [answers.get(f"c{i}", {}).get("value") for i in range(1, 10)]
    score = sum(POINTS[c] for c in crit) if all(c in POINTS for c in crit) else None
    print(json.dumps({"schema": "phieu-final/1", "batch": batch, "source": src,
                      "page_hash": r.get("page_hash"), "template": r["template"], "fields": fields,
                      "answers": answers, "score": score, "unresolved": unresolved}, ensure_ascii=False))
