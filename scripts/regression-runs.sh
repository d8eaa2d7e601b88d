#!/usr/bin/env bash
# Fixed-seed runs whose metrics a redesign must keep (compare two outputs with
# scripts/diff-runs.py BEFORE AFTER): the teacher bench (every method, 3 seeds), the MNIST TINY
# fast schedule of seed 0 (as bench/mnist-growth.sh runs it), and small growing CNN, ResNet-18,
# automatic-mode and SENN runs on the built-in sets.
# Usage: GROWNET_DATA=… scripts/regression-runs.sh OUT_DIR [BINARY]
#   SKIP_MNIST=1 leaves the MNIST run out (it needs the data and a few minutes).
set -euo pipefail
out=${1:?usage: scripts/regression-runs.sh OUT_DIR [BINARY]}
bin=${2:-target/release/grownet}
mkdir -p "$out"
"$bin" bench bench/teacher.toml --out "$out/teacher" --quiet
small=(--quiet --threads 1 --seed 0)
"$bin" train "${small[@]}" --dataset patterns --model cnn --channels 2,2,4 --convs-per-pool 2 \
  --epochs 3 --grow tiny --grow-select all --grow-every-steps 5 --max-hidden 6,6,8 \
  --neurons-per-step 2 --stats-samples 128 --line-search-samples 128 --out "$out/cnn-tiny"
"$bin" train "${small[@]}" --dataset patterns --model cnn --channels 2,2,4 --convs-per-pool 2 \
  --epochs 3 --grow tiny --set growth.auto=true --val-fraction 0.2 --grow-select all --grow-every-steps 10 \
  --neurons-per-step 2 --stats-samples 128 --line-search-samples 128 --conv-neuron full \
  --grow-bn-rescale --out "$out/cnn-auto-full"
"$bin" train "${small[@]}" --dataset patterns --model resnet18 --width-fraction 1/64 --limit 256 \
  --batch-size 64 --epochs 2 --grow tiny --grow-select round-robin --grow-every-steps 2 \
  --neurons-per-step 2 --stats-samples 64 --stats-batch-size 32 --line-search-samples 64 \
  --out "$out/resnet-tiny"
"$bin" train "${small[@]}" --dataset moons --hidden 1,1 --epochs 6 --grow tiny --set growth.auto=true \
  --val-fraction 0.2 --grow-every 1 --grow-select all --neurons-per-step 4 --out "$out/mlp-auto"
"$bin" train "${small[@]}" --dataset regression --hidden 1 --epochs 6 --grow senn --grow-every 1 \
  --out "$out/senn"
if [ -z "${SKIP_MNIST:-}" ]; then
  "$bin" train --dataset mnist --epochs 15 --batch-size 128 --lr 1e-3 --schedule cosine --quiet \
    --threads 2 --seed 0 --hidden 1,1 --max-hidden 256,256 --grow-every-steps 10 \
    --grow-select all --stats-samples 1024 --numerical-threshold 0.1 \
    --line-search grid:0.1,0.25,0.5,1 --neurons-per-step 32 --grow tiny --out "$out/mnist-tiny-s0"
fi
echo "runs written to $out"
