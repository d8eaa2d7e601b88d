#!/usr/bin/env bash
# Issue 3's MNIST benchmarks (release build, CPU): fixed 784-256-256-10 vs TINY grown from 1+1
# to 256+256 (schedule mode), GradMax and random growth on the same schedule, TINY with the
# default Armijo amplitude, and TINY's automatic mode. Seeds given as arguments (default 0 1 2).
# Usage: GROWNET_DATA=… bench/mnist-growth.sh OUT_DIR [SEED…]; completed runs are skipped;
# ONLY=PREFIX runs only the runs whose name starts with PREFIX (e.g. ONLY=tiny-auto);
# THREADS=N passes --threads N (default: grownet's choice by model size).
set -euo pipefail
out=${1:?usage: bench/mnist-growth.sh OUT_DIR [SEED...]}
shift
seeds=("${@:-0 1 2}")
[ $# -eq 0 ] && seeds=(0 1 2)
bin=${GROWNET_BIN:-target/release/grownet}
common=(--dataset mnist --epochs 15 --batch-size 128 --lr 1e-3 --schedule cosine --quiet)
[ -n "${THREADS:-}" ] && common+=(--threads "$THREADS")
sched=(--hidden 1,1 --max-hidden 256,256 --grow-every-steps 10 --grow-select all
       --stats-samples 1024 --numerical-threshold 0.1 --line-search grid:0.1,0.25,0.5,1)
source "$(dirname "$0")/kept-run.sh"
run() {
  local name=$1; shift
  [[ $name == "${ONLY:-}"* ]] || return 0
  if kept_run "$out" "$name" "${common[@]}" "$@"; then
    echo "$name: $(grep -E 'test  loss' "$out/$name.log")"
  fi
}
mkdir -p "$out"
for s in "${seeds[@]}"; do
  run "fixed-s$s" --seed "$s" --hidden 256,256
  for m in tiny gradmax random; do
    run "$m-s$s" --seed "$s" "${sched[@]}" --neurons-per-step 32 --grow "$m"
  done
done
# Equal count: every method adds at most 9 neurons per site per step (TINY's rank limit at
# the last hidden layer with 10 classes), so all follow the same width schedule.
for s in "${seeds[@]}"; do
  for m in tiny gradmax random; do
    run "$m-n9-s$s" --seed "$s" "${sched[@]}" --neurons-per-step 9 --grow "$m"
  done
done
# Slow schedule: grow every 100 steps (≤ 9 per site), so that growth lasts ~6 epochs and the
# quality of the added neurons matters more than how soon full width is reached.
slow=(--hidden 1,1 --max-hidden 256,256 --grow-every-steps 100 --grow-select all --neurons-per-step 9
      --stats-samples 1024 --numerical-threshold 0.1 --line-search grid:0.1,0.25,0.5,1)
for s in "${seeds[@]}"; do
  for m in tiny gradmax random; do
    run "$m-slow-s$s" --seed "$s" "${slow[@]}" --grow "$m"
  done
done
s=${seeds[0]}
run "tiny-armijo-s$s" --seed "$s" --hidden 1,1 --max-hidden 256,256 --grow-every-steps 10 --grow-select all \
    --neurons-per-step 32 --stats-samples 1024 --grow tiny
# Automatic mode (no target size): checks every 100 steps; a step is kept when its new neurons'
# gain over the existing weights' own update, judged on half of a 10 % validation split, pays
# 1.5e-4 (relative) per neuron and exceeds 2 standard errors; stops after 3 fruitless checks.
for s in "${seeds[@]}"; do
  run "tiny-auto-s$s" --seed "$s" --hidden 1,1 --grow tiny --set growth.auto=true --grow-every-steps 100 \
      --grow-select all --val-fraction 0.1 --line-search-samples 6000 --neurons-per-step 32 \
      --stats-samples 4096 --numerical-threshold 0.1 --line-search grid:0.1,0.25,0.5,1
done
