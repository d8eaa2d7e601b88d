#!/usr/bin/env bash
# One entry point that does all set-up (libtorch included) and then runs grownet:
#   ./grownet.sh demo            train on the built-in default dataset (no download needed)
#   ./grownet.sh test            the full check: rustfmt, clippy, every test (what CI runs)
#   ./grownet.sh ARGS...         any grownet command, e.g. ./grownet.sh train --dataset mnist
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh

case "${1:-demo}" in
  demo)
    cargo build --release --quiet
    exec target/release/grownet train
    ;;
  test)
    cargo fmt --all -- --check
    cargo clippy --release --all-targets --quiet -- -D warnings
    exec cargo test --release
    ;;
  *)
    cargo build --release --quiet
    exec target/release/grownet "$@"
    ;;
esac
