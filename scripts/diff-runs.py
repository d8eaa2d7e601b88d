#!/usr/bin/env python3
"""Compare the metrics of two runs (or two bench directories) apart from timing fields.

    scripts/diff-runs.py BEFORE AFTER [--rtol R]

BEFORE and AFTER are run directories (holding metrics.jsonl) or directories with run
directories below them (a bench output): runs are paired by their path relative to the
directory. Every event is compared field by field, as parsed JSON (key order does not
matter); fields that measure time (seconds_*, *_seconds, seconds, wall_time) are left out.
Numbers must be equal to the bit unless --rtol allows a relative difference; the largest
relative difference of every run is printed either way, so moved bits are counted, not
hidden. Exit status 0 when every run matches, 1 otherwise.
"""
import argparse
import json
import math
import os
import sys

TIMING = {"seconds", "wall_time"}


def is_timing(key):
    return key in TIMING or key.startswith("seconds_") or key.endswith("_seconds")


def runs(root):
    """Relative path -> metrics.jsonl path of every run below `root`."""
    if os.path.isfile(os.path.join(root, "metrics.jsonl")):
        return {".": os.path.join(root, "metrics.jsonl")}
    out = {}
    for dirpath, _, files in os.walk(root):
        if "metrics.jsonl" in files:
            out[os.path.relpath(dirpath, root)] = os.path.join(dirpath, "metrics.jsonl")
    return out


def events(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Diff:
    def __init__(self, rtol):
        self.rtol = rtol
        self.max_rel = 0.0
        self.numbers = 0
        self.moved = 0
        self.problems = []

    def compare(self, a, b, where):
        if isinstance(a, dict) and isinstance(b, dict):
            keys = sorted(set(a) | set(b))
            for k in keys:
                if is_timing(k):
                    continue
                if k not in a or k not in b:
                    side = "after" if k not in b else "before"
                    self.problems.append(f"{where}.{k}: missing {side}")
                    continue
                self.compare(a[k], b[k], f"{where}.{k}")
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                self.problems.append(f"{where}: length {len(a)} vs {len(b)}")
                return
            for i, (x, y) in enumerate(zip(a, b)):
                self.compare(x, y, f"{where}[{i}]")
        elif is_number(a) and is_number(b):
            self.numbers += 1
            if a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)):
                return
            rel = abs(a - b) / max(abs(a), abs(b), 1e-300)
            self.moved += 1
            self.max_rel = max(self.max_rel, rel)
            if rel > self.rtol:
                self.problems.append(f"{where}: {a!r} vs {b!r} (relative {rel:.2e})")
        elif a != b:
            self.problems.append(f"{where}: {a!r} vs {b!r}")


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rtol", type=float, default=0.0, help="allowed relative difference (0)")
    ap.add_argument("--show", type=int, default=10, help="differences listed per run (10)")
    args = ap.parse_args()
    a, b = runs(args.before), runs(args.after)
    if not a or not b:
        sys.exit(f"no metrics.jsonl under {args.before if not a else args.after}")
    ok = True
    for rel in sorted(set(a) | set(b)):
        if rel not in a or rel not in b:
            print(f"{rel}: only in {'after' if rel not in a else 'before'}")
            ok = False
            continue
        ea, eb = events(a[rel]), events(b[rel])
        d = Diff(args.rtol)
        if len(ea) != len(eb):
            d.problems.append(f"{len(ea)} events vs {len(eb)}")
        for i, (x, y) in enumerate(zip(ea, eb)):
            d.compare(x, y, f"line {i + 1} ({x.get('event', '?')})")
        status = "same" if not d.problems else "DIFFERENT"
        print(
            f"{rel}: {status}: {len(ea)} events, {d.numbers} numbers, "
            f"{d.moved} moved (largest relative difference {d.max_rel:.2e})"
        )
        for p in d.problems[: args.show]:
            print(f"    {p}")
        if len(d.problems) > args.show:
            print(f"    … {len(d.problems) - args.show} more")
        ok &= not d.problems
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
