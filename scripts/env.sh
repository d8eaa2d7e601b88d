# shellcheck shell=bash
# Sourced by ./grownet.sh: makes libtorch available (installing it once, into a per-user cache
# shared by every clone) and exports what tch's build and the binaries need. Idempotent and
# fast when everything is already there.
# (no `set -e` here: this file is sourced, and the caller chooses its own shell options)

TORCH_VERSION=2.11.0
GROWNET_TORCH_ENV=${GROWNET_TORCH_ENV:-${XDG_CACHE_HOME:-$HOME/.cache}/grownet/torch-$TORCH_VERSION}

torch_dir() {
  "$GROWNET_TORCH_ENV/bin/python" - <<'PY' 2>/dev/null
import os, importlib.util
spec = importlib.util.find_spec("torch")
print(os.path.dirname(spec.origin) if spec else "")
PY
}

if [ ! -x "$GROWNET_TORCH_ENV/bin/python" ]; then
  echo "grownet: creating the libtorch environment in $GROWNET_TORCH_ENV" >&2
  mkdir -p "$(dirname "$GROWNET_TORCH_ENV")"
  python3 -m venv "$GROWNET_TORCH_ENV"
fi
if [ ! -f "$(torch_dir)/lib/libtorch_cpu.so" ] || \
   [ "$("$GROWNET_TORCH_ENV/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null)" != "$TORCH_VERSION" ]; then
  echo "grownet: installing torch==$TORCH_VERSION (libtorch for tch; a few GB, once)" >&2
  "$GROWNET_TORCH_ENV/bin/pip" install --quiet "torch==$TORCH_VERSION" >&2
fi

LIBTORCH=$(torch_dir)
export LIBTORCH
export LIBTORCH_BYPASS_VERSION_CHECK=${LIBTORCH_BYPASS_VERSION_CHECK:-0}
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# Gloo's headers, which c10d's ProcessGroupGloo.hpp includes and the torch wheel does not ship:
# only headers are needed (the code is in libtorch_cpu), taken from Debian's libgloo-dev without
# root (`apt-get download` + `dpkg -x`), once, into the same per-user cache. build.rs compiles
# the distributed shim (csrc/c10d_shim.cpp) against them; without them grownet builds without
# distributed training and says so when asked for it.
GROWNET_GLOO_INCLUDE=${GROWNET_GLOO_INCLUDE:-$GROWNET_TORCH_ENV/gloo/usr/include}
if [ ! -f "$GROWNET_GLOO_INCLUDE/gloo/algorithm.h" ] && command -v apt-get >/dev/null 2>&1; then
  echo "grownet: fetching gloo's headers (Debian libgloo-dev, once)" >&2
  gloo_tmp=$(mktemp -d)
  if (cd "$gloo_tmp" && apt-get download libgloo-dev >/dev/null 2>&1) && \
     dpkg -x "$gloo_tmp"/libgloo-dev_*.deb "$GROWNET_TORCH_ENV/gloo.part" 2>/dev/null; then
    rm -rf "$GROWNET_TORCH_ENV/gloo" && mv "$GROWNET_TORCH_ENV/gloo.part" "$GROWNET_TORCH_ENV/gloo"
  else
    rm -rf "$GROWNET_TORCH_ENV/gloo.part"
    echo "grownet: could not fetch libgloo-dev (apt-get download); building without distributed training" >&2
  fi
  rm -rf "$gloo_tmp"
fi
export GROWNET_GLOO_INCLUDE

# CUDA's `crt/` and `nv/target` headers, which the CUDA wheel lacks and c10d's
# ProcessGroupNCCL.hpp includes: with them build.rs compiles the shim with NCCL. Only headers
# (~3 MB of wheels: nvidia-cuda-crt and nvidia-cuda-cccl of the CUDA version torch was built
# with), once, into the same cache; CUDA 13 wheels only (CUDA 12's packages are named
# otherwise); skipped for a CPU-only torch or without NCCL in the wheel.
GROWNET_CUDA_INCLUDE=${GROWNET_CUDA_INCLUDE:-$GROWNET_TORCH_ENV/cuda-headers/nvidia/cu13/include}
if [ ! -f "$GROWNET_CUDA_INCLUDE/nv/target" ] && [ -f "$LIBTORCH/../nvidia/nccl/include/nccl.h" ]; then
  cuda_version=$("$GROWNET_TORCH_ENV/bin/python" -c 'import torch; print(torch.version.cuda or "")' 2>/dev/null)
  case "$cuda_version" in
    13.*)
      echo "grownet: fetching CUDA $cuda_version's crt and nv/target headers (for NCCL, once)" >&2
      "$GROWNET_TORCH_ENV/bin/pip" install --quiet --no-deps --target "$GROWNET_TORCH_ENV/cuda-headers" \
        "nvidia-cuda-crt==$cuda_version.*" "nvidia-cuda-cccl==$cuda_version.*" >&2 ||
        echo "grownet: could not fetch CUDA's headers; building without NCCL" >&2
      ;;
  esac
fi
export GROWNET_CUDA_INCLUDE
export GROWNET_TORCH_ENV
