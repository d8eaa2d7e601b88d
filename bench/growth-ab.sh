#!/usr/bin/env bash
# Growth time of two (or more) builds side by side: one recipe of bench/growth-share.sh, one
# seed, run REPEATS times with each binary in turn (interleaved, so that the machine's load falls
# on every build alike), then the medians per build of the run time, of the time in growth and
# of its phases as the growth events log them (statistics, decompositions, judging: the line
# search, the automatic mode's choice of count and its verdict). A change that leaves the
# trajectory as it was (diff-runs.py) is compared on the same growth steps.
# Usage: GROWNET_DATA=… bench/growth-ab.sh OUT_DIR RECIPE SEED REPEATS BINARY…
#   e.g. bench/growth-ab.sh /tmp/ab auto-fast 0 5 old/grownet target/release/grownet
# Finished runs under OUT_DIR are kept (a rerun only fills in what is missing).
set -euo pipefail
out=${1:?usage: bench/growth-ab.sh OUT_DIR RECIPE SEED REPEATS BINARY...}
recipe=${2:?recipe}
seed=${3:?seed}
repeats=${4:?repeats}
shift 4
[ $# -ge 1 ] || { echo "growth-ab.sh: no binary given" >&2; exit 2; }
here=$(dirname "$0")
for r in $(seq 1 "$repeats"); do
  for i in $(seq 1 $#); do
    bin=${!i}
    GROWNET_BIN=$bin GROWNET_RECIPES=$recipe bash "$here/growth-share.sh" "$out/b$i-r$r" "$seed" > /dev/null
  done
done
PYTHONPATH="$here" python3 - "$out" "$repeats" "$@" <<'PY'
import json, statistics, sys
from kept_runs import ends
out, repeats, bins = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print("| build | runs | run time | in growth | statistics | decompositions | judging | growth steps |")
print("|---|---|---|---|---|---|---|---|")
for i, b in enumerate(bins, 1):
    rows = []
    for r in range(1, repeats + 1):
        for _, _, s, m in ends(f"{out}/b{i}-r{r}"):
            ph = [0.0, 0.0, 0.0]
            steps = 0
            for line in open(m):
                if '"event":"growth"' not in line:
                    continue
                e = json.loads(line)
                steps += 1
                for j, k in enumerate(("seconds_statistics", "seconds_decomposition", "seconds_line_search")):
                    ph[j] += e.get(k, 0.0)
            rows.append([s["seconds"], s["seconds_in_growth"], *ph, steps])
    med = [statistics.median(x[j] for x in rows) for j in range(6)]
    print(f"| `{b}` | {len(rows)} | {med[0]:.2f} s | {med[1]:.3f} s | {med[2]:.3f} s | {med[3]:.3f} s "
          f"| {med[4]:.3f} s | {med[5]:.0f} |")
PY
