"""The finished runs a bench script kept under OUT (run directories NAME-sSEED, bench/kept-run.sh):
one reader for the summaries of growth-share.sh, fan-in-noise.sh and auto-gain.sh.

    from kept_runs import ends
    for name, seed, summary, metrics in ends(out): ...
"""
import json
from pathlib import Path


def ends(out):
    """(name, seed, the last `end` event's summary, the metrics file) of every finished run under
    `out`, in the order of the directory names."""
    for d in sorted(Path(out).iterdir()):
        m = d / "metrics.jsonl"
        if not m.is_file():
            continue
        end = [json.loads(line) for line in open(m) if '"event":"end"' in line]
        if end:
            name, seed = d.name.rsplit("-s", 1)
            yield name, int(seed), end[-1]["summary"], m
