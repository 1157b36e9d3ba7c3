"""Train the CRNN on pre-generated shards (data/train_NNNN.npz), one CPU thread.

Shards are consumed in order 0,1,2,... (waiting for a shard that gen.py is
still writing); once --shards have been consumed it starts over at shard 0
(batches are reshuffled with the seeded RNG each time).  LR follows warmup + cosine over progress =
max(step/steps, elapsed/max_minutes), so the run always anneals inside the
time budget.

  python train.py --steps 4600 --max-minutes 55 --shards 13
"""
import argparse
import math
import os
import random
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np
import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.set_num_interop_threads(1)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen import ALPHABET, CHAR2CLS, INPUT_H, PAD_MULTIPLE, DOWNSAMPLE  # noqa: E402
from model import CRNN, greedy_decode  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def load_shard(fn):
    z = np.load(fn)
    pix, widths = z["pix"], z["widths"]
    offs = np.concatenate([[0], np.cumsum(widths.astype(np.int64) * INPUT_H)])
    imgs = [pix[offs[i]:offs[i + 1]].reshape(INPUT_H, widths[i]) for i in range(len(widths))]
    return imgs, [str(t) for t in z["texts"]], [str(v) for v in z["variants"]]


def padded_width(w):
    return ((w + PAD_MULTIPLE - 1) // PAD_MULTIPLE) * PAD_MULTIPLE


def ctc_need(text):
    return len(text) + sum(1 for a, b in zip(text, text[1:]) if a == b)


def to_batch(imgs):
    Wp = padded_width(max(im.shape[1] for im in imgs))
    x = np.full((len(imgs), 1, INPUT_H, Wp), -0.5, np.float32)
    for i, im in enumerate(imgs):
        x[i, 0, :, :im.shape[1]] = im.astype(np.float32) / 255.0 - 0.5
    return torch.from_numpy(x)


def make_batches(imgs, texts, rng, col_budget):
    """Group by identical padded width (so padding matches inference exactly)."""
    groups = {}
    for i, im in enumerate(imgs):
        Wp = padded_width(im.shape[1])
        if ctc_need(texts[i]) > Wp // DOWNSAMPLE:
            continue
        groups.setdefault(Wp, []).append(i)
    batches = []
    for Wp, idx in groups.items():
        rng.shuffle(idx)
        bs = max(4, min(64, col_budget // Wp))
        for k in range(0, len(idx), bs):
            batches.append(idx[k:k + bs])
    rng.shuffle(batches)
    return batches


def evaluate(model, imgs, texts):
    model.eval()
    ok, cerr, ctot = 0, 0, 0
    with torch.no_grad():
        order = sorted(range(len(imgs)), key=lambda i: imgs[i].shape[1])
        for k in range(0, len(order), 1):
            i = order[k]
            lp = model(to_batch([imgs[i]]))[:, 0]
            pred = greedy_decode(lp)
            ok += pred == texts[i]
            cerr += levenshtein(pred, texts[i]); ctot += len(texts[i])
    model.train()
    return ok / len(imgs), 1 - cerr / max(1, ctot)


def lr_at(base, step, warmup, prog):
    """Warm-up over `warmup` steps, then a cosine down to 3% of `base` as progress `prog` goes from 0 to 1."""
    return base * min(1.0, (step + 1) / warmup) * (0.5 * (1 + math.cos(math.pi * prog)) * 0.97 + 0.03)


def eval_and_save(model, v_imgs, v_texts, state, out, best, step, minutes):
    """Scores `model` on the validation lines, writes last.pt (and best.pt when it is the best so far) with
    `state`'s fields, and returns the best validation exact match."""
    acc, cacc = evaluate(model, v_imgs, v_texts)
    print("EVAL step %d val_exact %.4f val_char %.4f min %.1f" % (step, acc, cacc, minutes), flush=True)
    state = dict(state, model=model.state_dict(), step=step, val_exact=acc, val_char=cacc, minutes=minutes)
    torch.save(state, os.path.join(out, "last.pt"))
    if acc >= best:
        best = acc
        torch.save(state, os.path.join(out, "best.pt"))
    return best


def levenshtein(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(HERE, "data"))
    ap.add_argument("--out", default=os.path.join(HERE, "data", "ckpt"))
    ap.add_argument("--steps", type=int, default=4600)
    ap.add_argument("--max-minutes", type=float, default=50)
    ap.add_argument("--shards", type=int, default=13, help="number of distinct train shards to use")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--col-budget", type=int, default=9600, help="batch size * padded width")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", default=None, help="checkpoint to fine-tune from (e.g. from_onnx.py's init.pt)")
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--prefix", default="train", help="shard name prefix (train, train2, ...)")
    ap.add_argument("--wait-for-shards", type=int, default=1,
                    help="1: block until the next shard exists (deterministic); 0: reuse existing ones")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    init = torch.load(args.init, map_location="cpu") if args.init else None
    bn = True if init is None else init.get("bn", True)
    model = CRNN(bn=bn)
    if init is not None:
        model.load_state_dict(init["model"])
        print("fine-tuning from", args.init, flush=True)
    nparams = sum(p.numel() for p in model.parameters())
    print("params", nparams, flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    v_imgs, v_texts, _ = load_shard(os.path.join(args.data, "val_0000.npz"))

    t0 = time.time()
    step, best, shard_no, consumed = 0, -1.0, 0, 0
    warm = args.warmup
    loss_avg = None
    done = False
    while not done:
        k = shard_no % args.shards  # epochs over the shards, in order
        fn = os.path.join(args.data, "%s_%04d.npz" % (args.prefix, k))
        while not os.path.exists(fn):
            if not args.wait_for_shards and shard_no > 0:
                k = rng.randrange(min(shard_no, args.shards))
                fn = os.path.join(args.data, "%s_%04d.npz" % (args.prefix, k))
                break
            time.sleep(5)
        imgs, texts, _ = load_shard(fn)
        shard_no += 1
        for b in make_batches(imgs, texts, rng, args.col_budget):
            el = (time.time() - t0) / 60
            prog = max(step / args.steps, el / args.max_minutes)
            if prog >= 1:
                done = True
                break
            lr = lr_at(args.lr, step, warm, prog)
            for g in opt.param_groups:
                g["lr"] = lr
            x = to_batch([imgs[i] for i in b])
            tg = [torch.tensor([CHAR2CLS[c] for c in texts[i]]) for i in b]
            T = x.shape[3] // DOWNSAMPLE
            lp = model(x)
            assert lp.shape[0] == T
            loss = ctc(lp, torch.cat(tg), torch.full((len(b),), T, dtype=torch.long),
                       torch.tensor([len(t) for t in tg]))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            step += 1
            consumed += len(b)
            loss_avg = loss.item() if loss_avg is None else 0.98 * loss_avg + 0.02 * loss.item()
            if step % 50 == 0:
                print("step %d shard %d samples %d loss %.4f lr %.2e min %.1f" % (
                    step, k, consumed, loss_avg, lr, el), flush=True)
            if step % args.eval_every == 0:
                best = eval_and_save(model, v_imgs, v_texts, {"samples": consumed, "bn": bn}, args.out, best, step,
                                     el)
    el = (time.time() - t0) / 60
    acc, cacc = evaluate(model, v_imgs, v_texts)
    print("FINAL step %d samples %d val_exact %.4f val_char %.4f minutes %.1f" % (step, consumed, acc, cacc, el), flush=True)
    state = {"model": model.state_dict(), "step": step, "val_exact": acc, "val_char": cacc,
             "samples": consumed, "minutes": el, "bn": bn}
    torch.save(state, os.path.join(args.out, "last.pt"))
    torch.save(state, os.path.join(args.out, "final.pt"))


if __name__ == "__main__":
    main()
