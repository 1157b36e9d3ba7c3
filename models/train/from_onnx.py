"""Load the shipped `codes.onnx` back into a torch CRNN (BatchNorm folded), to fine-tune it.

  python from_onnx.py --onnx ../codes.onnx --out data/ckpt/init.pt

The exported graph keeps every weight: the convolutions with BatchNorm folded in, the two bidirectional GRU
layers (ONNX gate order z, r, h; torch's is r, z, n) and the final linear layer. The loaded model is checked
against onnxruntime before it is written.
"""
import argparse
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np
import torch

torch.set_num_threads(1)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen import INPUT_H  # noqa: E402
from model import CRNN  # noqa: E402


def _zrh_to_rzn(a, hidden):
    z, r, h = a[:hidden], a[hidden:2 * hidden], a[2 * hidden:]
    return np.concatenate([r, z, h])


def load(onnx_path):
    import onnx
    from onnx import numpy_helper
    m = onnx.load(onnx_path)
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    model = CRNN(bn=False)
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    tconvs = [l for l in model.cnn if isinstance(l, torch.nn.Conv2d)]
    assert len(convs) == len(tconvs)
    sd = {}
    names = {id(l): n for n, l in model.named_modules()}
    for n, l in zip(convs, tconvs):
        sd[names[id(l)] + ".weight"] = init[n.input[1]]
        sd[names[id(l)] + ".bias"] = init[n.input[2]]
    grus = [n for n in m.graph.node if n.op_type == "GRU"]
    H = model.rnn.hidden_size
    for layer, n in enumerate(grus):
        W, R, B = init[n.input[1]], init[n.input[2]], init[n.input[3]]
        for d, suf in enumerate(["", "_reverse"]):
            sd["rnn.weight_ih_l%d%s" % (layer, suf)] = _zrh_to_rzn(W[d], H)
            sd["rnn.weight_hh_l%d%s" % (layer, suf)] = _zrh_to_rzn(R[d], H)
            sd["rnn.bias_ih_l%d%s" % (layer, suf)] = _zrh_to_rzn(B[d][:3 * H], H)
            sd["rnn.bias_hh_l%d%s" % (layer, suf)] = _zrh_to_rzn(B[d][3 * H:], H)
    mm = [n for n in m.graph.node if n.op_type == "MatMul"][0]
    sd["fc.weight"] = init[mm.input[1]].T
    sd["fc.bias"] = init["fc.bias"]
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()})
    model.eval()
    import onnxruntime as ort
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(0)
    worst = 0.0
    for b, w in [(1, 50), (2, 300), (1, 800)]:
        x = torch.rand(b, 1, INPUT_H, w, generator=g) - 0.5
        with torch.no_grad():
            ref = model(x).numpy()
        got = sess.run(None, {"line_image": x.numpy()})[0]
        worst = max(worst, float(np.abs(got - ref).max()))
    assert worst < 1e-3, worst
    print("loaded %s; torch vs onnxruntime max |diff| %.2e" % (onnx_path, worst))
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", default=os.path.join(os.path.dirname(__file__), "..", "codes.onnx"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "data", "ckpt", "init.pt"))
    a = ap.parse_args()
    model = load(a.onnx)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    torch.save({"model": model.state_dict(), "bn": False, "from": os.path.basename(a.onnx)}, a.out)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
