"""The shared example pages the stress sets are drawn over, and the truth file they write."""
import json
import os

import numpy as np

EXAMPLES = "/work/shared/forms/examples"


def single_image_forms():
    """Each form page of the examples held in one JPEG or PNG, as (truth record, P, ppm): P maps template mm to
    image px through the page's homography, ppm is the page's pixels per mm."""
    for line in open(os.path.join(EXAMPLES, "truth.jsonl")):
        t = json.loads(line)
        if t["kind"] != "form" or not t["path"].endswith((".jpg", ".png")):
            continue
        H = np.array(t["transform"]["homography"])

        def P(x, y, H=H):
            v = H @ [x, y, 1]
            return (v[0] / v[2], v[1] / v[2])

        ppm = float(np.hypot(*(np.array(P(1, 0)) - np.array(P(0, 0)))))
        yield t, P, ppm


def write_truth(out, records):
    """`out`/truth.jsonl, one record a line."""
    with open(os.path.join(out, "truth.jsonl"), "w") as f:
        for t in records:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
