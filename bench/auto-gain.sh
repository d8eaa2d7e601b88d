#!/usr/bin/env bash
# The automatic mode's two "beyond δ" rules side by side (docs/tiny.md §10): `neurons` (δ and the
# new neurons at one scale, the default before 2026-11-30) and `neurons-own-scale` (the neurons at
# a scale of their own on top of δ at its best; the default), on the README's automatic MNIST
# recipe with the fast options, interleaved seed by seed. Prints per seed the widths and test
# accuracy of each rule, and mean ± sd.
# Usage: GROWNET_DATA=… bench/auto-gain.sh OUT_DIR [SEED…] (default seeds 0 … 8); finished runs
# are kept.
set -euo pipefail
out=${1:?usage: bench/auto-gain.sh OUT_DIR [SEED...]}
shift
seeds=("$@")
[ $# -eq 0 ] && seeds=(0 1 2 3 4 5 6 7 8)
bin=${GROWNET_BIN:-target/release/grownet}
auto=(--dataset mnist --epochs 15 --batch-size 128 --lr 1e-3 --schedule cosine --quiet --threads 2
      --hidden 1,1 --grow tiny --set growth.auto=true --grow-every-steps 100 --grow-select all --val-fraction 0.1
      --line-search-samples 6000 --neurons-per-step 32 --stats-samples 4096 --numerical-threshold 0.1
      --line-search grid:0.1,0.25,0.5,1 --statistics-sample fixed --statistics-precision mixed
      --stats-batch-size 4096)
source "$(dirname "$0")/kept-run.sh"
mkdir -p "$out"
for s in "${seeds[@]}"; do
  for g in neurons neurons-own-scale; do
    kept_run "$out" "$g-s$s" "${auto[@]}" --seed "$s" --auto-gain "$g" || true
  done
done
PYTHONPATH="$(dirname "$0")" python3 - "$out" <<'PY'
import statistics, sys
from kept_runs import ends
rows = {}
for rule, seed, s, _ in ends(sys.argv[1]):
    rows.setdefault(seed, {})[rule] = (100 * s["test"]["accuracy"], "+".join(map(str, s["hidden_widths"])))
print("| seed | neurons: widths | accuracy % | neurons-own-scale: widths | accuracy % |")
print("|---|---|---|---|---|")
for seed in sorted(rows):
    r = rows[seed]
    cells = [f"{r[g][1]} | {r[g][0]:.2f}" if g in r else "– | –" for g in ("neurons", "neurons-own-scale")]
    print(f"| {seed} | {cells[0]} | {cells[1]} |")
for g in ("neurons", "neurons-own-scale"):
    acc = [r[g][0] for r in rows.values() if g in r]
    if len(acc) > 1:
        print(f"\n{g}: {statistics.mean(acc):.2f} ± {statistics.stdev(acc):.2f} % over {len(acc)} seeds")
PY
