"""Dynamic int8 quantisation of the recogniser for rten (ConvInteger / MatMulInteger, per-channel int8 weights,
uint8 activations quantised at run time).

rten 0.26 pads a ConvInteger's input with a different value than the ONNX reference (onnxruntime pads with the
input's zero point, i.e. 0.0, which is what the network was trained with): on our model the first convolution's
border outputs differ by up to 3.1 and the whole line reads as garbage. So every padded Conv first gets an explicit
`Pad` (constant 0.0, in float) and no padding of its own; the float model with explicit pads gives the same output
as the original, bit for bit, in onnxruntime.

    python3 quantize.py --model ../codes.onnx --out /tmp/q/codes_int8.onnx

Checks, on a random line: float-with-pads against the original (must be 0), the quantised model in onnxruntime
against the original (the quantisation error), and the frame-wise argmax agreement.
"""
import argparse

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic


def explicit_pads(model):
    g = model.graph
    nodes = []
    for n in g.node:
        if n.op_type == "Conv":
            pads = [a for a in n.attribute if a.name == "pads"]
            if pads and any(pads[0].ints):
                p = list(pads[0].ints)  # 2-D: [top, left, bottom, right]
                name = n.name + "_pads"
                g.initializer.append(
                    numpy_helper.from_array(np.array([0, 0, p[0], p[1], 0, 0, p[2], p[3]], dtype=np.int64), name))
                padded = n.input[0] + "_padded_" + n.name.replace("/", "_")
                nodes.append(helper.make_node("Pad", [n.input[0], name], [padded], mode="constant",
                                              name=n.name + "_Pad"))
                n.input[0] = padded
                pads[0].ints[:] = [0, 0, 0, 0]
        nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    padded = a.out.replace(".onnx", "_f32pad.onnx")
    onnx.save(explicit_pads(onnx.load(a.model)), padded)
    quantize_dynamic(padded, a.out, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv", "MatMul"],
                     per_channel=True, reduce_range=False)
    x = (np.random.RandomState(0).rand(1, 1, 32, 300).astype(np.float32) - 0.5)
    run = lambda m: ort.InferenceSession(m).run(None, {"line_image": x})[0]  # noqa: E731
    o0, o1, o2 = run(a.model), run(padded), run(a.out)
    print(f"explicit pads vs original: {np.abs(o1 - o0).max():.3g}; int8 vs original: {np.abs(o2 - o0).max():.3g}; "
          f"frame argmax agreement {(o2.argmax(-1) == o0.argmax(-1)).mean():.3f}")


if __name__ == "__main__":
    main()
