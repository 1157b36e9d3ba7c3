"""Export a checkpoint to ONNX (+ codes.json) and check it against torch in onnxruntime.

  python export.py --ckpt ckpt/final.pt --out ../codes.onnx
"""
import argparse
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np
import torch

torch.set_num_threads(1)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen import ALPHABET, INPUT_H, PAD_MULTIPLE, DOWNSAMPLE, HELDOUT_PREFIXES, HAND_FONT_HELDOUT  # noqa: E402
from model import CRNN, NUM_CLASSES, WIDTHS  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def export(ckpt, out, opset=17, version="1.1.0"):
    state = torch.load(ckpt, map_location="cpu")
    arch = state.get("arch", {})
    model = CRNN(bn=state.get("bn", True), hidden=arch.get("hidden", 96), widths=tuple(arch.get("widths", WIDTHS)))
    model.load_state_dict(state["model"])
    model.eval()
    x = torch.rand(1, 1, INPUT_H, 300) - 0.5
    kw = dict(input_names=["line_image"], output_names=["output"], opset_version=opset,
              dynamic_axes={"line_image": {0: "batch", 3: "width"}, "output": {0: "seq", 1: "batch"}},
              do_constant_folding=True)
    try:
        torch.onnx.export(model, (x,), out, dynamo=False, **kw)
    except TypeError:
        torch.onnx.export(model, (x,), out, **kw)
    import onnx
    m = onnx.load(out)
    onnx.checker.check_model(m)
    ops = sorted({n.op_type for n in m.graph.node})
    print("ops:", ops)
    # torch vs onnxruntime on several widths / batch sizes
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(out, so, providers=["CPUExecutionProvider"])
    maxdiff = 0.0
    g = torch.Generator().manual_seed(0)
    for b, w in [(1, 50), (1, 300), (2, 450), (3, 800)]:
        xi = torch.rand(b, 1, INPUT_H, w, generator=g) - 0.5
        with torch.no_grad():
            ref = model(xi).numpy()
        got = sess.run(None, {"line_image": xi.numpy()})[0]
        assert got.shape == ref.shape == (w // DOWNSAMPLE, b, NUM_CLASSES), (got.shape, ref.shape)
        maxdiff = max(maxdiff, float(np.abs(got - ref).max()))
    print("onnxruntime vs torch max |diff| (log-probs):", maxdiff)
    assert maxdiff < 1e-3
    nparams = sum(p.numel() for p in model.parameters())
    meta = {
        "name": "phieu-codes",
        "version": version,
        "alphabet": ALPHABET,
        "blank_index": 0,
        "class_of_char": "class i+1 = alphabet[i]",
        "input_name": "line_image",
        "output_name": "output",
        "input_height": INPUT_H,
        "input_layout": "[batch, 1, 32, W] float32, luminance in [0,1] minus 0.5 (paper ~ +0.5, ink ~ -0.5)",
        "resize": "height->32 keeping aspect, width=max(10, floor(32*w/h + 0.5)) (round half up), bilinear, align_corners=false, no antialias",
        "pad_multiple": PAD_MULTIPLE,
        "pad_value": -0.5,
        "pad_side": "right",
        "downsample": DOWNSAMPLE,
        "output_layout": "[seq, batch, classes] log-softmax, seq = W_padded / 4, classes = 39",
        "decoding": "greedy CTC (argmax, collapse repeats, drop blank 0)",
        "params": nparams,
        "opset": opset,
        "onnx_ops": ops,
        "train_step": state.get("step"),
        "train_samples": state.get("samples"),
        "train_minutes": round(float(state.get("minutes", 0)), 1),
        "heldout_font_families": ["Noto Sans/Serif/Mono/Sans Mono", "Open Sans", "Caladea"],
        "heldout_font_file_prefixes": list(HELDOUT_PREFIXES),
        "heldout_hand_font_files": list(HAND_FONT_HELDOUT),
        "finetuned_from": "phieu-codes 1.0.0 (git d101a22)" if not state.get("bn", True) else None,
    }
    jp = os.path.join(os.path.dirname(os.path.abspath(out)), "codes.json")
    with open(jp, "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print("wrote", out, os.path.getsize(out), "bytes;", jp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(HERE, "data", "ckpt", "final.pt"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "codes.onnx"))
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--version", default="1.1.0")
    a = ap.parse_args()
    export(a.ckpt, a.out, a.opset, a.version)


if __name__ == "__main__":
    main()
