"""CRNN for single code lines: [B,1,32,W] (lum-0.5) -> [W/4, B, 39] log-softmax."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from gen import ALPHABET

NUM_CLASSES = len(ALPHABET) + 1  # + CTC blank at 0


def _blk(i, o, k=3, p=1, bn=True):
    if not bn:  # BatchNorm folded into the convolution (a model fine-tuned from the exported ONNX)
        return [nn.Conv2d(i, o, k, padding=p, bias=True), nn.ReLU(inplace=True)]
    return [nn.Conv2d(i, o, k, padding=p, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]


# The shipped network's widths (1.0.0, 1.1.0); a slimmer student for the speed issue passes its own.
WIDTHS = (24, 48, 80, 80, 128, 160)


class CRNN(nn.Module):
    def __init__(self, hidden=96, bn=True, widths=WIDTHS):
        super().__init__()
        a, b, c, d, e, f = widths
        self.cnn = nn.Sequential(
            *_blk(1, a, bn=bn), nn.MaxPool2d(2, 2),            # 16 x W/2
            *_blk(a, b, bn=bn), nn.MaxPool2d(2, 2),            # 8 x W/4
            *_blk(b, c, bn=bn), *_blk(c, d, bn=bn), nn.MaxPool2d((2, 1), (2, 1)),   # 4 x W/4
            *_blk(d, e, bn=bn), nn.MaxPool2d((2, 1), (2, 1)),                       # 2 x W/4
            *_blk(e, f, k=(2, 1), p=0, bn=bn),                                      # 1 x W/4
        )
        self.rnn = nn.GRU(f, hidden, num_layers=2, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, NUM_CLASSES)

    def forward(self, x):
        f = self.cnn(x)              # B, C, 1, T
        f = f.squeeze(2)             # B, C, T
        f = f.permute(2, 0, 1)       # T, B, C
        y, _ = self.rnn(f)
        return F.log_softmax(self.fc(y), dim=-1)   # T, B, classes


def greedy_decode(logp_tb):
    """logp [T, classes] numpy/torch -> string (collapse repeats, drop blanks)."""
    best = logp_tb.argmax(-1).tolist()
    out, prev = [], 0
    for c in best:
        if c != prev and c != 0:
            out.append(ALPHABET[c - 1])
        prev = c
    return "".join(out)
