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
    # The real datasets, as CI finds them: $GROWNET_DATA, else ../shared/data beside the
    # checkout when it exists. Tests that need them and cannot find them say SKIPPED and are
    # counted at the end.
    if [ -z "${GROWNET_DATA:-}" ] && [ -d ../shared/data ]; then
      GROWNET_DATA="$(cd ../shared/data && pwd)"
      export GROWNET_DATA
    fi
    cargo fmt --all -- --check
    cargo clippy --release --all-targets --quiet -- -D warnings
    GROWNET_SKIP_LOG=$(mktemp)
    export GROWNET_SKIP_LOG
    status=0
    cargo test --release || status=$?
    skipped=$(wc -l < "$GROWNET_SKIP_LOG")
    if [ "$skipped" -gt 0 ]; then
      echo "grownet: $skipped test(s) skipped (set GROWNET_DATA to the folder holding mnist/ and cifar-10/):"
      sed 's/^/  /' "$GROWNET_SKIP_LOG"
    else
      echo "grownet: no test skipped"
    fi
    rm -f "$GROWNET_SKIP_LOG"
    exit "$status"
    ;;
  *)
    cargo build --release --quiet
    exec target/release/grownet "$@"
    ;;
esac
