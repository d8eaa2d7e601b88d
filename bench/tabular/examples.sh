#!/usr/bin/env bash
# The README's "Your own data" examples, run and recorded: a CSV classification grown by TINY,
# a CSV regression, an image folder read twice (decoded and cached, then from the cache).
# Usage: bench/tabular/examples.sh [DATA_DIR] [OUT_MD]  (defaults bench-runs/tabular/data, written
# by bench/tabular/prepare.py, and bench/results/tabular/examples.md).
set -euo pipefail
data=${1:-bench-runs/tabular/data}
md=${2:-bench/results/tabular/examples.md}
bin=${GROWNET_BIN:-target/release/grownet}
runs=bench-runs/tabular/examples
rm -rf "$runs" "$data/digits/.grownet-cache"
mkdir -p "$runs" "$(dirname "$md")"
export GROWNET_DATA=$data
{
  echo "# Your own data: the README's examples"
  echo
  echo "Data from \`bench/tabular/prepare.py\` (scikit-learn's bundled tables and digits), \`GROWNET_DATA=$data\`,"
  echo "run by \`bench/tabular/examples.sh\` on $(nproc) CPU cores. Each command, then its output (timing lines included)."
} > "$md"
example() {
  local title=$1; shift
  local start end
  start=$(date +%s.%N)
  "$bin" "$@" > "$runs/out.txt" 2>&1
  end=$(date +%s.%N)
  {
    echo; echo "## $title"; echo
    echo '```sh'; echo "grownet $*"; echo '```'; echo
    echo '```'; grep -v '^epoch\|^  epoch' "$runs/out.txt"
    printf 'wall time of the command: %.2f s\n' "$(echo "$end - $start" | bc)"
    echo '```'
  } >> "$md"
}
example "CSV classification, an MLP grown by TINY" train --dataset csv:breast_cancer.csv --target diagnosis \
  --hidden 1,1 --grow tiny --every-epochs 2 --stop-epoch 30 --max-hidden 32,32 --epochs 60 --batch-size 32 \
  --lr 3e-3 --schedule cosine --seed 0 --threads 1 --quiet --out "$runs/breast-cancer"
example "CSV regression" train --dataset csv:diabetes.csv --target progression --hidden 16 --epochs 50 \
  --lr 3e-3 --schedule cosine --seed 0 --threads 1 --quiet --out "$runs/diabetes"
example "Image folder (digits, 8×8 PNGs brought to 16×16)" train --dataset images:digits --image-size 16 \
  --model cnn --channels 8,16 --no-augment --epochs 30 --lr 3e-3 --seed 0 --threads 1 --quiet --out "$runs/digits"
# The cache on 10 000 PNGs (CIFAR-10's test batch as train/ and test/ folders, written by
# bench/tabular/cifar_folder.py when the CIFAR-10 files are there): 0 epochs, i.e. loading only.
if [ -d "$data/cifar10-png" ]; then
  rm -rf "$data/cifar10-png/train/.grownet-cache" "$data/cifar10-png/test/.grownet-cache"
  what=("" "first run: 10 000 images decoded and cached" "second run: read from the cache")
  for pass in 1 2; do
    example "Image folder with train/ and test/, ${what[$pass]}" train --dataset images:cifar10-png \
      --model cnn --channels 16,32 --epochs 0 --seed 0 --threads 1 --quiet --out "$runs/cifar10-png-$pass"
  done
fi
cat "$md"
