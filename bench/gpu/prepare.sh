#!/usr/bin/env bash
# Prepares the GPU run of bench/gpu/run.sh (issue 15), on the development machine: builds the
# release binary and examples and fills gpu-carry/ (ignored by git through its own
# .gitignore) with what the GPU machine cannot build or download:
#
#   gpu-carry/bin.tar.gz     grownet, growth_dump, resnet_throughput, conv_growth_cost
#                            (stripped; they link libtorch dynamically, and run.sh points
#                            LD_LIBRARY_PATH at the GPU machine's torch 2.11 lib/)
#   gpu-carry/data/cifar-10/ a CIFAR-10 subset in the layout src/data/formats/locate.rs reads:
#                            data_batch_1..5.bin.gz = the first CIFAR_TRAIN (10 000)
#                            training images split into five files (the reader wants all
#                            five), test_batch.bin.gz = the first CIFAR_TEST (1 000) test images,
#                            batches.meta.txt
#   gpu-carry/MANIFEST.txt   commit, build, sizes, checksums
#
# and checks that it stays under 60 MiB (the device tool carries 64 MiB with the working tree).
#
#   bash bench/gpu/prepare.sh            (GROWNET_DATA: the full CIFAR-10, default ../shared/data)
#
# For step 11 (bench/cifar10-search-6k-12ep.toml's own protocol: the first 15 000 training and
# 2 000 test images), with nothing else that does not fit:
#
#   CIFAR_TRAIN=15000 CIFAR_TEST=2000 MNIST=0 BINS=grownet bash bench/gpu/prepare.sh
#
# (the training images, split into five files of CIFAR_TRAIN/5; with bench/results/ kept from
# travelling, README.md "How to run it", the working tree stays under 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
# shellcheck source=/dev/null
source scripts/env.sh
DATA=${GROWNET_DATA:-$ROOT/../shared/data}
CARRY=$ROOT/gpu-carry
LIMIT_MIB=60
RECORD=3073 # one CIFAR-10 record: a label byte and 3·32·32 pixels
CIFAR_TRAIN=${CIFAR_TRAIN:-10000} # the first CIFAR_TRAIN training images (a multiple of 5, ≤ 20 000)
CIFAR_TEST=${CIFAR_TEST:-1000}
MNIST=${MNIST:-1}
BINS=${BINS:-grownet examples/growth_dump examples/resnet_throughput examples/conv_growth_cost}
if [ $((CIFAR_TRAIN % 5)) -ne 0 ] || [ "$CIFAR_TRAIN" -gt 20000 ] || [ "$CIFAR_TRAIN" -lt 5 ]; then
  echo "CIFAR_TRAIN=$CIFAR_TRAIN: expected a multiple of 5 between 5 and 20 000" >&2
  exit 1
fi

echo "== building (release: $BINS)"
build=()
for b in $BINS; do
  case $b in
  examples/*) build+=(--example "${b#examples/}") ;;
  *) build+=(--bin "$b") ;;
  esac
done
cargo build --release "${build[@]}"

echo "== filling $CARRY"
rm -rf "$CARRY"
mkdir -p "$CARRY/bin" "$CARRY/data/cifar-10"
printf '*\n' >"$CARRY/.gitignore" # ignores the folder, itself included
for b in $BINS; do
  cp "target/release/$b" "$CARRY/bin/"
done
strip "$CARRY"/bin/*
(cd "$CARRY" && tar -czf bin.tar.gz bin && rm -r bin)

cifar=$DATA/cifar-10
if [ -d "$cifar/cifar-10-batches-bin" ]; then cifar=$cifar/cifar-10-batches-bin; fi
cat_batch() { # the decompressed bytes of a batch file, .gz or not
  if [ -f "$cifar/$1.gz" ]; then gzip -dc "$cifar/$1.gz"; else cat "$cifar/$1"; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat_batch data_batch_1.bin >"$tmp/train.bin"
cat_batch data_batch_2.bin >>"$tmp/train.bin"
[ "$(stat -c %s "$tmp/train.bin")" -eq $((20000 * RECORD)) ] || {
  echo "data_batch_1.bin and data_batch_2.bin are not 10 000 records each" >&2
  exit 1
}
part=$((CIFAR_TRAIN / 5))
for i in 1 2 3 4 5; do
  dd if="$tmp/train.bin" bs=$RECORD skip=$(((i - 1) * part)) count=$part status=none |
    gzip -6 >"$CARRY/data/cifar-10/data_batch_$i.bin.gz"
done
cat_batch test_batch.bin >"$tmp/test.bin" # (not piped into head: pipefail would see gzip's SIGPIPE)
head -c $((CIFAR_TEST * RECORD)) "$tmp/test.bin" | gzip -6 >"$CARRY/data/cifar-10/test_batch.bin.gz"
cp "$cifar/batches.meta.txt" "$CARRY/data/cifar-10/"
if [ "$MNIST" = 1 ]; then
  mkdir -p "$CARRY/data/mnist"
  cp "$DATA"/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz "$CARRY/data/mnist/"
fi
GROMO_PYTHON=${GROMO_PYTHON:-$HOME/.cache/gromo-0.1.0/bin/python}
if site=$("$GROMO_PYTHON" -c 'import gromo, deprecated, os; print(os.path.dirname(os.path.dirname(gromo.__file__)))' 2>/dev/null); then
  mkdir -p "$CARRY/pylib"
  (cd "$site" && tar -cf - --exclude=__pycache__ gromo deprecated) | tar -xf - -C "$CARRY/pylib"
else
  echo "no GroMo beside $GROMO_PYTHON (bench/gromo/README.md): step 7 will say so and measure nothing"
fi

echo "== checking"
tar -xzf "$CARRY/bin.tar.gz" -C "$tmp"
# The binary's own shared libraries must be libtorch's (found on the GPU machine through
# LD_LIBRARY_PATH; the run path baked in here points at this machine's) and the system's.
needed=$(readelf -d "$tmp/bin/grownet" | awk '/NEEDED/ {gsub(/[][]/, "", $5); print $5}')
echo "NEEDED by grownet: $(echo $needed)"
other=$(echo "$needed" | grep -Ev '^(libtorch(_cpu|_cuda)?|libc10(_cuda)?)\.so$' |
  grep -Ev '^(libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+|ld-linux-x86-64)\.so' || true)
if [ -n "$other" ]; then
  echo "grownet needs libraries that are neither libtorch's nor the system's: $other" >&2
  exit 1
fi
if ldd "$tmp/bin/grownet" | grep -q 'not found'; then
  ldd "$tmp/bin/grownet" | grep 'not found' >&2
  exit 1
fi
"$tmp/bin/grownet" doctor --device cpu | sed 's/^/  /'
glibc=$(objdump -T "$tmp/bin/grownet" | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)
size=$(du -sb "$CARRY" | cut -f1)
{
  echo "gpu-carry for bench/gpu/run.sh (issue 15), made by bench/gpu/prepare.sh"
  echo "commit     $(git rev-parse HEAD)$(git diff --quiet HEAD -- src examples Cargo.toml Cargo.lock || echo ' (with uncommitted changes)')"
  echo "made       $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m)"
  echo "libtorch   $LIBTORCH (linked at build time)"
  echo "needs      $glibc or later; libtorch 2.11 (LD_LIBRARY_PATH)"
  echo "data       CIFAR-10 subset: the first $CIFAR_TRAIN training images as 5 × $part, test_batch's first $CIFAR_TEST$([ "$MNIST" = 1 ] && echo '; MNIST')"
  echo "size       $size bytes"
  (cd "$CARRY" && find . -type f ! -name MANIFEST.txt ! -name .gitignore -printf '%P\n' | sort |
    while read -r f; do printf '%10d  %s  %s\n' "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -c1-16)" "$f"; done)
} >"$CARRY/MANIFEST.txt"
cat "$CARRY/MANIFEST.txt"
if [ "$size" -gt $((LIMIT_MIB * 1024 * 1024)) ]; then
  echo "gpu-carry is $size bytes: over $LIMIT_MIB MiB" >&2
  exit 1
fi
tree=$(git ls-files -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
echo "== gpu-carry: $((size / 1024 / 1024)) MiB; tracked files $((tree / 1024 / 1024)) MiB; together under 64 MiB: $([ $((size + tree)) -lt $((64 * 1024 * 1024)) ] && echo yes || echo NO)"
