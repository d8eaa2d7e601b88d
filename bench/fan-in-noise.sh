#!/usr/bin/env bash
# The random part of the fan-in (`--fan-in-noise`, docs/tiny.md §2.13) on the README's fast MNIST
# schedule: every 10 steps, 32 neurons per site, to WIDTHS (default 256,256), fixed statistics
# sample in mixed precision. Recipes, interleaved seed by seed: TINY, TINY with a random part of
# 1× the default initialisation's bound, random growth (`--grow random`, the control), and the
# target widths trained from scratch. Prints mean ± sd of the test accuracy and loss per recipe,
# and per seed the noise's difference to plain TINY.
# Usage: GROWNET_DATA=… bench/fan-in-noise.sh OUT_DIR [SEED…] (default seeds 0 1 2); finished
# runs are kept. WIDTHS=672,889 changes the target; GROWNET_RECIPES="tiny tiny-noise1" runs only
# those recipes.
set -euo pipefail
out=${1:?usage: bench/fan-in-noise.sh OUT_DIR [SEED...]}
shift
seeds=("$@")
[ $# -eq 0 ] && seeds=(0 1 2)
bin=${GROWNET_BIN:-target/release/grownet}
widths=${WIDTHS:-256,256}
common=(--dataset mnist --epochs 15 --batch-size 128 --lr 1e-3 --schedule cosine --quiet --threads 2)
sched=(--hidden 1,1 --max-hidden "$widths" --grow-every-steps 10 --grow-select all --neurons-per-step 32
       --stats-samples 1024 --line-search-samples 1024 --numerical-threshold 0.1
       --line-search grid:0.1,0.25,0.5,1 --statistics-sample fixed --statistics-precision mixed
       --stats-batch-size 4096)
source "$(dirname "$0")/kept-run.sh"
run() {
  local name=$1; shift
  wanted "$name" || return 0
  if kept_run "$out" "$name" "${common[@]}" "$@"; then
    echo "$name: $(grep -E 'test ' "$out/$name.log" | tail -1)"
  fi
}
mkdir -p "$out"
for s in "${seeds[@]}"; do
  run "tiny-s$s" --seed "$s" "${sched[@]}" --grow tiny
  run "tiny-noise1-s$s" --seed "$s" "${sched[@]}" --grow tiny --fan-in-noise 1
  run "random-s$s" --seed "$s" "${sched[@]}" --grow random
  run "fixed-s$s" --seed "$s" --hidden "$widths"
done
PYTHONPATH="$(dirname "$0")" python3 - "$out" <<'PY'
import statistics, sys
from kept_runs import ends
rows = {}
for name, seed, s, _ in ends(sys.argv[1]):
    rows.setdefault(name, {})[seed] = (100 * s["test"]["accuracy"], s["test"]["loss"])
def ms(v):
    return f"{statistics.mean(v):.2f} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.2f}"
print("| recipe | seeds | test accuracy % | test loss |")
print("|---|---|---|---|")
for name, r in rows.items():
    acc = [a for a, _ in r.values()]
    loss = [l for _, l in r.values()]
    print(f"| {name} | {len(r)} | {ms(acc)} | {statistics.mean(loss):.4f} |")
if "tiny" in rows and "tiny-noise1" in rows:
    both = sorted(set(rows["tiny"]) & set(rows["tiny-noise1"]))
    d = [rows["tiny-noise1"][s][0] - rows["tiny"][s][0] for s in both]
    wins = sum(x > 0 for x in d)
    print(f"\ntiny-noise1 − tiny, paired by seed: {ms(d) if d else '–'} points "
          f"(higher on {wins} of {len(d)} seeds)")
PY
