#!/usr/bin/env python3
"""grownet beside GroMo on issue 12's MNIST protocol, runs interleaved, medians over seeds.

    python3 bench/gromo/compare.py [--seeds 5] [--data-dir DIR] [--out REPORT.md]

For each seed it runs, in an order that rotates with the seed: GroMo (bench/gromo/gromo_mnist.py
under the GroMo Python, `GROMO_PYTHON`, default ~/.cache/gromo-0.1.0/bin/python), grownet with
its defaults (a fresh f64 statistics sample per step, as GroMo), and grownet fast (a fixed
statistics sample, hence the input moment computed once, and mixed-precision products:
docs/tiny.md §2.2), and grownet fast with the op-by-op optimiser step instead of the fused kernel
(`train.fused_optimizer = false`). It prints each run, then the medians and the ratios to GroMo. Without
GroMo it says how to install it and exits 0 (nothing measured). Data: `--data-dir`, else
`GROWNET_DATA`, holding `mnist/`.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ("--dataset mnist --hidden 1,1 --epochs 10 --batch-size 128 --optimizer sgd --lr 0.05 "
            "--momentum 0.9 --schedule constant --threads 2 --grow tiny --grow-every 1 "
            "--grow-until 8 --grow-select all --neurons-per-step 32 --max-hidden 256,256 "
            "--stats-samples 10000 --stats-batch-size 1000 --line-search-samples 2000 "
            "--line-search grid:0,0.1,0.25,0.5,1,2 --numerical-threshold 1e-6").split()
VARIANTS = {
    "grownet": [],
    "grownet fast": ["--statistics-sample", "fixed", "--statistics-precision", "mixed"],
    # The same with the op-by-op optimiser step of builds before the fused kernels.
    "fast op-by-op": ["--statistics-sample", "fixed", "--statistics-precision", "mixed",
                      "--set", "train.fused_optimizer=false"],
}
INSTALL = """GroMo is not installed: nothing measured. Install it beside grownet's torch (outside the clone):
  TORCH_ENV=${GROWNET_TORCH_ENV:-$HOME/.cache/grownet/torch-2.11.0}
  "$TORCH_ENV/bin/python" -m venv ~/.cache/gromo-0.1.0
  SITE=$(~/.cache/gromo-0.1.0/bin/python -c 'import site; print(site.getsitepackages()[0])')
  "$TORCH_ENV/bin/python" -c 'import site; print(site.getsitepackages()[0])' > "$SITE/grownet-torch.pth"
  ~/.cache/gromo-0.1.0/bin/pip install --no-deps gromo==0.1.0
  ~/.cache/gromo-0.1.0/bin/pip install networkx tomli deprecated torchmetrics"""


def run_grownet(binary, data_dir, seed, extra, epochs, device):
    with tempfile.TemporaryDirectory() as out:
        protocol = list(PROTOCOL)
        if epochs is not None:  # a shortened protocol (smoke tests)
            protocol[protocol.index("--epochs") + 1] = str(epochs)
            protocol[protocol.index("--grow-until") + 1] = str(max(epochs - 2, 1))
        cmd = [str(binary), "train", *protocol, "--seed", str(seed), "--data-dir", str(data_dir),
               "--out", out, "--device", device, *extra]
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            sys.exit(f"grownet failed ({' '.join(cmd)}):\n{done.stderr}")
        for line in open(Path(out) / "metrics.jsonl"):
            event = json.loads(line)
            if event.get("event") == "end":
                s = event["summary"]
                return dict(test_accuracy=s["test"]["accuracy"], widths=s["hidden_widths"],
                            total_seconds=s["seconds"], growth_seconds=s["seconds_in_growth"])
    raise RuntimeError("grownet wrote no end event")


def run_gromo(python, data_dir, seed, epochs, device):
    cmd = [python, str(Path(__file__).with_name("gromo_mnist.py")), "--seed", str(seed),
           "--data-dir", str(Path(data_dir) / "mnist"), "--device", device]
    if epochs is not None:
        cmd += ["--epochs", str(epochs), "--growth-epochs", str(max(epochs - 2, 1))]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"GroMo failed ({' '.join(cmd)}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--data-dir", default=os.environ.get("GROWNET_DATA"))
    p.add_argument("--binary", default=str(ROOT / "target/release/grownet"))
    p.add_argument("--out", type=Path)
    p.add_argument("--epochs", type=int, help="shorten the protocol (smoke test; not the protocol)")
    p.add_argument("--device", default="cpu",
                   help="where both train: cpu (the issue's protocol), cuda or cuda:N")
    a = p.parse_args()
    python = os.environ.get("GROMO_PYTHON", str(Path.home() / ".cache/gromo-0.1.0/bin/python"))
    probe = subprocess.run([python, "-c", "import gromo, torch"], capture_output=True)
    if probe.returncode != 0:
        print(INSTALL)
        return 0
    if not a.data_dir or not (Path(a.data_dir) / "mnist").is_dir():
        sys.exit("no MNIST: pass --data-dir DIR (holding mnist/) or set GROWNET_DATA")
    names = ["GroMo", *VARIANTS]
    results = {n: [] for n in names}
    lines = []
    for seed in range(a.seeds):
        order = names[seed % len(names):] + names[:seed % len(names)]
        for name in order:
            if name == "GroMo":
                r = run_gromo(python, a.data_dir, seed, a.epochs, a.device)
            else:
                r = run_grownet(a.binary, a.data_dir, seed, VARIANTS[name], a.epochs, a.device)
            results[name].append(r)
            line = (f"seed {seed} {name:<13} accuracy {100 * r['test_accuracy']:.2f} %  widths "
                    f"{r['widths']}  total {r['total_seconds']:.2f} s  growth {r['growth_seconds']:.2f} s")
            print(line, flush=True)
            lines.append(line)
    med = {n: {k: statistics.median(r[k] for r in results[n])
               for k in ("total_seconds", "growth_seconds")} for n in names}
    acc = {n: statistics.mean(100 * r["test_accuracy"] for r in results[n]) for n in names}
    sd = {n: statistics.pstdev(100 * r["test_accuracy"] for r in results[n]) for n in names}
    summary = ["", f"medians over {a.seeds} seeds (runs interleaved); ratios: grownet / GroMo", "",
               "| run | time in growth | ratio | total wall time | ratio | test accuracy (mean ± sd) | − GroMo |",
               "|---|---|---|---|---|---|---|"]
    g = med["GroMo"]
    for n in names:
        m = med[n]
        summary.append(
            f"| {n} | {m['growth_seconds']:.2f} s | {m['growth_seconds'] / g['growth_seconds']:.2f}× "
            f"| {m['total_seconds']:.2f} s | {m['total_seconds'] / g['total_seconds']:.2f}× "
            f"| {acc[n]:.2f} ± {sd[n]:.2f} % | {acc[n] - acc['GroMo']:+.2f} |")
    print("\n".join(summary))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        cmd = "python3 bench/gromo/compare.py --seeds %d" % a.seeds
        if a.device != "cpu":
            cmd += " --device " + a.device
        a.out.write_text(f"# grownet beside GroMo 0.1.0, issue 12's MNIST protocol\n\n`{cmd}`\n\n"
                         + "\n".join(f"    {l}" for l in lines) + "\n" + "\n".join(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
