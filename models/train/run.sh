#!/usr/bin/env bash
# Reproduce models/codes.onnx + codes.json, eval numbers, fixtures and atlases from scratch.
# One command:   bash models/train/run.sh
# Needs Debian font packages (see README.md) and the pinned Python packages.
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
INSTALL=${INSTALL:-1}
if [ "$INSTALL" = 1 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    fonts-liberation2 fonts-liberation fonts-dejavu-core fonts-dejavu-extra fonts-noto-core fonts-noto-mono \
    fonts-freefont-ttf fonts-croscore fonts-crosextra-carlito fonts-crosextra-caladea fonts-urw-base35 \
    fonts-roboto fonts-open-sans fonts-inconsolata fonts-cantarell fonts-lato fonts-hack \
    fonts-linuxlibertine fonts-courier-prime fonts-jetbrains-mono
  pip install -r requirements.txt
fi
SHARDS=${SHARDS:-13}   # the committed model: 13 shards x 4000 lines, cycled
mkdir -p data/logs data/ckpt
python gen.py shards --split val --first 0 --count 1 --per-shard 400 --out data
# generate all training shards first (deterministic), then train
python gen.py shards --split train --first 0 --count "$SHARDS" --per-shard 4000 --out data
python train.py --steps 4600 --max-minutes 55 --eval-every 300 --shards "$SHARDS" | tee data/logs/train.log
python export.py --ckpt data/ckpt/final.pt --out ../codes.onnx
python eval.py --model ../codes.onnx --n 1000 --json ../eval_results.json | tee data/logs/eval.log
python fixtures.py --model ../codes.onnx --out ../../tests/fixtures/codes
python atlas.py --out ../../models/hand
