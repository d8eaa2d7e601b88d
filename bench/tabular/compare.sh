#!/usr/bin/env bash
# Tabular data of your own, in one run: TINY and SENN grow MLPs on scikit-learn's bundled
# breast-cancer and wine tables (as CSV files) against the fixed 32+32 MLP (grownet bench,
# bench/tabular/*.toml) and against scikit-learn's MLPClassifier and
# HistGradientBoostingClassifier on the same train/test files, seeds 0, 1, 2.
#
# Usage: bench/tabular/compare.sh [OUT_DIR] [RESULTS_DIR]   (defaults bench-runs/tabular and
# bench/results/tabular). PY is a Python with scikit-learn (default /work/venv-sklearn/bin/python:
#   python3 -m venv /work/venv-sklearn && /work/venv-sklearn/bin/pip install scikit-learn).
# Finished grownet runs are kept (a second call resumes); the table goes to RESULTS_DIR/compare.md.
set -euo pipefail
out=${1:-bench-runs/tabular}
results=${2:-bench/results/tabular}
py=${PY:-/work/venv-sklearn/bin/python}
bin=${GROWNET_BIN:-target/release/grownet}
export OMP_NUM_THREADS=1
mkdir -p "$out" "$results"
[ -f "$out/data/wine-test.csv" ] || "$py" bench/tabular/prepare.py "$out/data"
for ds in breast_cancer wine; do
  "$bin" bench "bench/tabular/$ds.toml" --out "$out/$ds" --data-dir "$out/data" --jobs 2 --threads 1 --quiet
  mkdir -p "$results/$ds"
  cp -r "$out/$ds/results.csv" "$out/$ds/report.md" "$out/$ds/plots" "$results/$ds/"
done
"$py" bench/tabular/sklearn_baselines.py "$out/data" breast_cancer:diagnosis wine:cultivar > "$results/sklearn.csv"
python3 - "$results" <<'PY'
import csv, statistics, sys
res = sys.argv[1]
rows = {}
for ds in ("breast_cancer", "wine"):
    for r in csv.DictReader(open(f"{res}/{ds}/results.csv")):
        rows.setdefault((r["method"], ds), []).append((float(r["test_accuracy"]), r["widths"], float(r["wall_seconds"])))
for r in csv.DictReader(open(f"{res}/sklearn.csv")):
    rows.setdefault((r["method"], r["dataset"]), []).append((float(r["test_accuracy"]), "", float(r["wall_seconds"])))
methods = list(dict.fromkeys(m for m, _ in rows))
def cell(m, ds):
    v = rows.get((m, ds))
    if not v:
        return "–"
    acc = [100 * a for a, _, _ in v]
    widths = ", ".join(sorted({w for _, w, _ in v if w}))
    sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
    return f"{statistics.mean(acc):.2f} ± {sd:.2f}" + (f" ({widths})" if widths else "")
with open(f"{res}/compare.md", "w") as f:
    f.write("# Tabular data: grown MLPs against fixed ones, scikit-learn's MLP and gradient boosting\n\n")
    f.write("Test accuracy %, mean ± std over seeds 0, 1, 2 (final hidden widths in brackets), one\n")
    f.write("stratified 80/20 split (bench/tabular/prepare.py). Command: `bench/tabular/compare.sh`.\n\n")
    f.write("| method | breast cancer (114 test rows) | wine (36 test rows) |\n|---|---|---|\n")
    for m in methods:
        f.write(f"| {m} | {cell(m, 'breast_cancer')} | {cell(m, 'wine')} |\n")
print(open(f"{res}/compare.md").read())
PY
