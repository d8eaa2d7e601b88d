#!/usr/bin/env python3
"""Summarise grownet runs: one row per run directory (final metrics from metrics.jsonl),
then mean ± std per method (the name before '-s<seed>'). Usage: bench/summarize.py DIR"""
import json, pathlib, re, statistics, sys

rows = []
for m in sorted(pathlib.Path(sys.argv[1]).glob("*/metrics.jsonl")):
    ev = [json.loads(l) for l in m.read_text().splitlines() if l.strip()]
    end = [e for e in ev if e["event"] == "end"]
    if not end:
        continue
    s = end[-1]["summary"]
    epochs = [e for e in ev if e["event"] == "epoch"]
    run = m.parent.name
    rows.append(dict(run=run, method=re.sub(r"-s\d+$", "", run), acc=100 * s["test"]["accuracy"],
                     params=s["parameters"], widths=s["hidden_widths"], seconds=s["seconds"],
                     growth=s["seconds_in_growth"], epochs=len(epochs),
                     sec_per_epoch=statistics.median(e["epoch_seconds"] for e in epochs)))
print("| run | test acc % | params | widths | wall s | growth s (%) |")
print("|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['run']} | {r['acc']:.2f} | {r['params']} | {r['widths']} | {r['seconds']:.1f} | "
          f"{r['growth']:.1f} ({100 * r['growth'] / r['seconds']:.1f}%) |")
print("\n| method | runs | test acc % (mean ± std) | wall s (mean) | growth share |")
print("|---|---|---|---|---|")
for method in dict.fromkeys(r["method"] for r in rows):
    rs = [r for r in rows if r["method"] == method]
    accs = [r["acc"] for r in rs]
    sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
    share = sum(r["growth"] for r in rs) / sum(r["seconds"] for r in rs)
    print(f"| {method} | {len(rs)} | {statistics.mean(accs):.2f} ± {sd:.2f} | "
          f"{statistics.mean(r['seconds'] for r in rs):.1f} | {100 * share:.1f}% |")
