#!/usr/bin/env bash
# Issue 12, target 2: the share of a run spent in growth, on the README's MNIST recipes (the fast
# schedule: every 10 steps to 256+256; the automatic mode: checks every 100 steps, no target),
# each with grownet's defaults (a fresh f64 statistics sample per step) and fast (a fixed
# statistics sample, so the input moment is computed once, mixed-precision products, and the
# statistics sample in one minibatch of up to 4096 rows: docs/tiny.md §2.2). The automatic mode also runs with the retry rule it had before the
# back-off (`--auto-retry always`: a refused site judged again in every round; docs/tiny.md §10),
# fast; and fast with the grid descended from its largest scale (`--line-search descend:…`,
# docs/tiny.md §2.9: the grid's choice in fewer previews), also judged on 90 % of the held-out
# samples and chosen on 10 % (`--judge-fraction 0.9`, docs/tiny.md §10), and that judged in nine
# parts, stopping once the verdict is clear (`--judge-parts 9`): the README's automatic recipe since
# session 26 (auto-fast-descend-judged); that with a unit's cost growing with its site's width
# (`--grow-threshold-per-width`, docs/tiny.md §10), alone and with `--end-shrink 0.5` (session 27);
# and the automatic mode's defaults since session 43 (auto-defaults: the README's command,
# `--grow-auto` with `--val-fraction 0.1` and AdamW, src/config/grow_auto.toml).
# Runs interleaved seed by seed; prints the table (medians
# of the share, mean ± sd of the accuracy).
# Usage: GROWNET_DATA=… bench/growth-share.sh OUT_DIR [SEED…] (default seeds 0 1 2); finished
# runs are kept. GROWNET_RECIPES="auto-fast …" runs only those recipes. Besides the share, the
# table gives the growth time per judged step (median over seeds): a run's share also follows
# how many steps its trajectory takes, which each build's rounding changes (mixed precision).
# GROWNET_EXTRA="--set train.fused_optimizer=false" adds those arguments to every run (here: the
# op-by-op optimiser step of builds before the fused kernels).
set -euo pipefail
out=${1:?usage: bench/growth-share.sh OUT_DIR [SEED...]}
shift
seeds=("$@")
[ $# -eq 0 ] && seeds=(0 1 2)
bin=${GROWNET_BIN:-target/release/grownet}
common=(--dataset mnist --epochs 15 --batch-size 128 --lr 1e-3 --schedule cosine --quiet --threads 2)
read -r -a extra <<< "${GROWNET_EXTRA:-}"
common+=("${extra[@]}")
fast=(--statistics-sample fixed --statistics-precision mixed --stats-batch-size 4096)
sched=(--hidden 1,1 --max-hidden 256,256 --grow-every-steps 10 --grow-select all --neurons-per-step 32
       --stats-samples 1024 --numerical-threshold 0.1 --line-search grid:0.1,0.25,0.5,1 --grow tiny)
auto=(--hidden 1,1 --grow tiny --set growth.auto=true --grow-every-steps 100 --grow-select all --val-fraction 0.1
      --line-search-samples 6000 --neurons-per-step 32 --stats-samples 4096 --numerical-threshold 0.1)
grid=(--line-search grid:0.1,0.25,0.5,1)
descend=(--line-search descend:0.1,0.25,0.5,1)
width=(--grow-threshold-per-neuron 0 --grow-threshold-per-width 1.5e-6)
defaults=(--hidden 1,1 --optimizer adamw --val-fraction 0.1 --grow tiny --grow-auto)
source "$(dirname "$0")/kept-run.sh"
run() {
  local name=$1; shift
  wanted "$name" || return 0
  if kept_run "$out" "$name" "${common[@]}" "$@"; then
    echo "$name: $(grep -E 'growth:' "$out/$name.log")"
  fi
}
mkdir -p "$out"
for s in "${seeds[@]}"; do
  run "schedule-s$s" --seed "$s" "${sched[@]}"
  run "schedule-fast-s$s" --seed "$s" "${sched[@]}" "${fast[@]}"
  run "auto-fast-s$s" --seed "$s" "${auto[@]}" "${grid[@]}" "${fast[@]}"
  run "auto-s$s" --seed "$s" "${auto[@]}" "${grid[@]}"
  run "auto-fast-always-s$s" --seed "$s" "${auto[@]}" "${grid[@]}" "${fast[@]}" --auto-retry always
  run "auto-fast-descend-s$s" --seed "$s" "${auto[@]}" "${descend[@]}" "${fast[@]}"
  run "auto-fast-descend-judge-s$s" --seed "$s" "${auto[@]}" "${descend[@]}" "${fast[@]}" --judge-fraction 0.9
  run "auto-fast-descend-judged-s$s" --seed "$s" "${auto[@]}" "${descend[@]}" "${fast[@]}" --judge-fraction 0.9 \
    --judge-parts 9
  run "auto-fast-descend-judged-width-s$s" --seed "$s" "${auto[@]}" "${descend[@]}" "${fast[@]}" --judge-fraction 0.9 \
    --judge-parts 9 "${width[@]}"
  run "auto-fast-descend-judged-width-shrink-s$s" --seed "$s" "${auto[@]}" "${descend[@]}" "${fast[@]}" \
    --judge-fraction 0.9 --judge-parts 9 "${width[@]}" --end-shrink 0.5
  run "auto-defaults-s$s" --seed "$s" "${defaults[@]}"
done
PYTHONPATH="$(dirname "$0")" python3 - "$out" <<'PY'
import statistics, sys
from kept_runs import ends
rows = {}
for name, _, s, m in ends(sys.argv[1]):
    steps = sum(1 for l in open(m) if '"event":"growth"' in l)
    rows.setdefault(name, []).append((s["seconds_in_growth"] / s["seconds"], 100 * s["test"]["accuracy"],
                                      s["seconds"], s["hidden_widths"],
                                      1000 * s["seconds_in_growth"] / max(steps, 1)))
print("| recipe | runs | growth share (median) | run time (median) | growth per judged step (median) "
      "| test accuracy | widths |")
print("|---|---|---|---|---|---|---|")
for name, r in rows.items():
    acc = [x[1] for x in r]
    sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
    print(f"| {name} | {len(r)} | {100 * statistics.median(x[0] for x in r):.1f} % "
          f"| {statistics.median(x[2] for x in r):.1f} s | {statistics.median(x[4] for x in r):.0f} ms "
          f"| {statistics.mean(acc):.2f} ± {sd:.2f} % | {', '.join('+'.join(map(str, x[3])) for x in r)} |")
PY
