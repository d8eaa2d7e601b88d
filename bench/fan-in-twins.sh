#!/usr/bin/env bash
# Twins among a network's hidden units (docs/tiny.md §2.14): for each hidden dense layer of each
# run's checkpoint, how many units have another unit whose fan-in (weights and bias) has a
# cosine above 0.99 and above 0.9 with theirs (a ReLU unit whose fan-in is a positive multiple of
# another's computes the same feature up to scale), and the effective rank of the fan-ins
# (exp of the entropy of the normalised squared singular values).
#
#   bench/fan-in-twins.sh RUN_DIR...
#
# Reads RUN_DIR/checkpoint.safetensors with the torch of the project's set-up (scripts/env.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../scripts/env.sh
source "$here/scripts/env.sh" >/dev/null
"$GROWNET_TORCH_ENV/bin/python" - "$@" <<'PY' 2>/dev/null
import json, struct, sys
import torch

def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    kinds = {"F32": torch.float32, "F64": torch.float64}
    out = {}
    for name, v in header.items():
        if name == "__metadata__" or v["dtype"] not in kinds:
            continue
        s, e = v["data_offsets"]
        data = bytearray(raw[8 + n + s:8 + n + e])
        out[name] = torch.frombuffer(data, dtype=kinds[v["dtype"]]).reshape(v["shape"])
    return out

print("| run | layer | units | twins cos > 0.99 | twins cos > 0.9 | effective rank |")
print("|---|---|---|---|---|---|")
for run in sys.argv[1:]:
    t = load(f"{run}/checkpoint.safetensors")
    stages = sorted({int(k.split(".")[2]) for k in t if k.startswith("model.stages.")})
    for i in stages[:-1]:  # the last stage is the output layer
        w = t.get(f"model.stages.{i}.layer.weight")
        if w is None or w.dim() != 2:
            continue
        b = t.get(f"model.stages.{i}.layer.bias")
        rows = w.double() if b is None else torch.cat([w.double(), b.double()[:, None]], 1)
        unit = rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)
        cos = unit @ unit.T
        cos.fill_diagonal_(-2.0)
        best = cos.max(dim=1).values
        s = torch.linalg.svdvals(w.double())
        p = s**2 / (s**2).sum()
        rank = torch.exp(-(p * torch.log(p + 1e-300)).sum()).item()
        print(f"| {run.rstrip('/').split('/')[-1]} | {i} | {w.shape[0]} | "
              f"{int((best > 0.99).sum())} | {int((best > 0.9).sum())} | {rank:.0f} |")
PY
