"""Distil the shipped recogniser into a slimmer student (issue 18: code fields within 4 ms on one core).

The student has the teacher's frame rate (W/4), so it learns the teacher's per-frame class distribution (KL
divergence) together with CTC on the true labels; that converges far faster than CTC alone. The student is not
shipped by this script: it must first be exported and measured against the teacher on the held-out line sets
(eval.py) and on the independent scan sets, as MODEL_CARD.md describes.

  python distill.py --teacher data/ckpt/init12.pt --prefix train3 --shards 12 --max-minutes 55 --out data/ckpt_slim
"""
import argparse
import os
import random
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen import CHAR2CLS, DOWNSAMPLE  # noqa: E402
from model import CRNN  # noqa: E402
from train import eval_and_save, evaluate, load_shard, lr_at, make_batches, to_batch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(HERE, "data"))
    ap.add_argument("--teacher", required=True, help="a torch checkpoint of the shipped model (from_onnx.py)")
    ap.add_argument("--out", default=os.path.join(HERE, "data", "ckpt_slim"))
    ap.add_argument("--prefix", default="train3")
    ap.add_argument("--shards", type=int, default=12)
    ap.add_argument("--widths", default="16,32,48,48,80,96")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--max-minutes", type=float, default=55)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--kd-weight", type=float, default=1.0)
    ap.add_argument("--col-budget", type=int, default=9600)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", help="a student checkpoint to continue from (its arch overrides --widths/--hidden)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    t_state = torch.load(args.teacher, map_location="cpu")
    teacher = CRNN(bn=t_state.get("bn", True))
    teacher.load_state_dict(t_state["model"])
    teacher.eval()
    widths = tuple(int(x) for x in args.widths.split(","))
    arch = {"widths": widths, "hidden": args.hidden}
    init = torch.load(args.init, map_location="cpu") if args.init else None
    if init is not None:
        arch = {"widths": tuple(init["arch"]["widths"]), "hidden": init["arch"]["hidden"]}
    student = CRNN(hidden=arch["hidden"], widths=arch["widths"])
    if init is not None:
        student.load_state_dict(init["model"])
        print("continuing from", args.init, "step", init.get("step"), "val", init.get("val_exact"), flush=True)
    print("student params", sum(p.numel() for p in student.parameters()), "arch", arch, flush=True)
    opt = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=1e-4)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    v_imgs, v_texts, _ = load_shard(os.path.join(args.data, "val_0000.npz"))

    t0 = time.time()
    step, shard_no, best, loss_avg, done = 0, 0, -1.0, None, False
    while not done:
        k = shard_no % args.shards
        imgs, texts, _ = load_shard(os.path.join(args.data, "%s_%04d.npz" % (args.prefix, k)))
        shard_no += 1
        for b in make_batches(imgs, texts, rng, args.col_budget):
            el = (time.time() - t0) / 60
            prog = max(step / args.steps, el / args.max_minutes)
            if prog >= 1:
                done = True
                break
            lr = lr_at(args.lr, step, args.warmup, prog)
            for g in opt.param_groups:
                g["lr"] = lr
            x = to_batch([imgs[i] for i in b])
            T = x.shape[3] // DOWNSAMPLE
            with torch.no_grad():
                t_lp = teacher(x)
            s_lp = student(x)
            tg = [torch.tensor([CHAR2CLS[c] for c in texts[i]]) for i in b]
            l_ctc = ctc(s_lp, torch.cat(tg), torch.full((len(b),), T, dtype=torch.long),
                        torch.tensor([len(t) for t in tg]))
            l_kd = F.kl_div(s_lp, t_lp, log_target=True, reduction="none").sum(-1).mean()
            loss = l_ctc + args.kd_weight * l_kd
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(student.parameters(), 5.0)
            opt.step()
            step += 1
            loss_avg = loss.item() if loss_avg is None else 0.98 * loss_avg + 0.02 * loss.item()
            if step % 50 == 0:
                print("step %d shard %d loss %.4f (ctc %.3f kd %.3f) lr %.2e min %.1f" % (
                    step, k, loss_avg, l_ctc.item(), l_kd.item(), lr, el), flush=True)
            if step % args.eval_every == 0:
                best = eval_and_save(student, v_imgs, v_texts, {"arch": arch, "bn": True}, args.out, best, step, el)
    acc, cacc = evaluate(student, v_imgs, v_texts)
    print("FINAL step %d val_exact %.4f val_char %.4f" % (step, acc, cacc), flush=True)
    torch.save({"model": student.state_dict(), "arch": arch, "bn": True, "step": step, "val_exact": acc,
                "val_char": cacc}, os.path.join(args.out, "final.pt"))


if __name__ == "__main__":
    main()
