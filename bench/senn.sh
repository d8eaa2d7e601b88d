#!/usr/bin/env bash
# Issue 4's SENN benchmarks (release build, CPU):
#   1. 1-D regression from one rational neuron (width only), with the fit plot;
#   2. two moons (noise 0.3) from no hidden layer, 5 seeds, against fixed networks;
#   3. MNIST from 10 hidden neurons, against the same recipe at the grown width from scratch.
# Usage: GROWNET_DATA=… bench/senn.sh OUT_DIR [SEED…]; completed runs are skipped.
set -euo pipefail
out=${1:?usage: bench/senn.sh OUT_DIR [SEED...]}
shift
seeds=("$@")
[ $# -eq 0 ] && seeds=(0 1 2)
bin=${GROWNET_BIN:-target/release/grownet}
mkdir -p "$out"
source "$(dirname "$0")/kept-run.sh"
run() {
  local name=$1; shift
  if kept_run "$out" "$name" --quiet "$@"; then
    echo "$name: $(grep -E 'hidden widths' "$out/$name.log") $(grep -E 'test  loss' "$out/$name.log")"
  fi
}

# 1. Regression: the example trains SENN, one neuron and the grown width from scratch.
if [ -z "${SKIP_REGRESSION:-}" ] && [ ! -f "$out/regression/fit.csv" ]; then
  (source scripts/env.sh && cargo run --release --quiet --example senn_regression -- "$out/regression" 0)
fi

# 2. Two moons, noise 0.3, 200 training points, full batch, from no hidden layer.
moons=(--config bench/senn-moons.toml)
for s in 0 1 2 3 4; do
  run "moons-senn-s$s" "${moons[@]}" --seed "$s"
  run "moons-linear-s$s" "${moons[@]}" --seed "$s" --hidden none --grow-until 0
  run "moons-fixed16x2-s$s" "${moons[@]}" --seed "$s" --hidden 16,16 --activation relu --grow-until 0
done

# 3. MNIST from 10 hidden neurons: SENN checks after every epoch up to epoch 15, 30 epochs;
#    depth cost 60 as in the official MNIST config.
mnist=(--dataset mnist --epochs 30 --optimizer sgd --momentum 0.9 --lr 0.05 --weight-decay 5e-4
       --schedule cosine)
for s in "${seeds[@]}"; do
  run "mnist-senn-s$s" "${mnist[@]}" --seed "$s" --hidden 10 --grow senn --grow-every 1 --grow-until 15 \
      --senn-alpha 1e-3 --senn-depth-cost 60 --stats-samples 8192 --senn-refine-samples 2048
  w=$(grep -oE 'hidden widths \[[0-9, ]+\]' "$out/mnist-senn-s$s.log" | sed 's/.*\[//; s/\]//; s/ //g' || true)
  [ -n "$w" ] && run "mnist-fixed-s$s" "${mnist[@]}" --seed "$s" --hidden "$w"
done
run "mnist-fixed10-s${seeds[0]}" "${mnist[@]}" --seed "${seeds[0]}" --hidden 10
