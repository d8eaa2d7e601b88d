"""summary.md of a bench/gpu/run.sh run (issue 15), from its logs and the growth runs'
metrics.jsonl: the machine, the CPU/GPU agreement, throughput against PyTorch, ResNet-18 grown
from 1/64 against full width (per-epoch wall time, time in statistics / decompositions / line
search, final widths, accuracy), the conv-site cost, and the later steps' searches (8, 10,
11). Standard library only.

    python3 bench/gpu/summarize.py OUT_DIR > OUT_DIR/summary.md

The growth runs' metrics are read from OUT_DIR/metrics.tar.gz, so that a summary can be made
again from the files the run brought back.
"""
import json
import os
import re
import sys
import tarfile


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def environment(out):
    log = read(os.path.join(out, "01-environment.log"))
    first = log.splitlines()[0] if log else "(no 01-environment.log)"
    print(f"Run: `{first.replace('bench/gpu/run.sh: ', '')}`.\n")
    gpu = re.search(r"^name, driver_version.*\n(.+)$", log, re.M)
    if gpu:
        print(f"GPU (nvidia-smi): {gpu.group(1).strip()}.\n")
    else:
        print("GPU: none (no nvidia-smi).\n")
    keep = ("commit ", "host ", "grownet  ", "libtorch ", "  loaded from", "  CUDA library",
            "CUDA  ", "  runtime", "device ", "matmul ", "conv2d ", "python torch", "error:",
            "LD_PRELOAD", "TIMED OUT", "SKIPPED")
    lines = [l for l in log.splitlines() if l.startswith(keep)]
    print("```text")
    print("\n".join(lines))
    print("```\n")


def agreement(out):
    log = read(os.path.join(out, "02-agreement.log"))
    print("## 2. CPU/GPU agreement of a small growth run\n")
    print(
        "`examples/growth_dump`: a VGG-style CNN (4,4,8,8 channels) on `patterns`, 20 steps, "
        "the first growth step's statistics and proposals at every site, two growth checks "
        "(TINY, every site, ≤ 2 neurons), 60 steps in all; compared with the CPU reference "
        "`bench/gpu/reference/growth_dump-cpu.safetensors` (1 libtorch thread, development "
        "machine): widths and neuron counts equal, losses within 1e-3, statistics and "
        "proposals within 1e-4 (relative).\n"
    )
    print("| dump | verdict | worst loss | worst first step | worst growth checks | failing tensors |")
    print("|---|---|---|---|---|---|")
    for block in log.split("\n$ ")[1:]:
        m = re.match(r"\S*growth_dump compare \S+ \S*dump-([\w-]+)\.safetensors", block)
        if not m:
            continue
        worst = dict(re.findall(r"^worst \(([^)]+)\): (\S+)", block, re.M))
        fails = re.findall(r"^(\S+)\s+\S+\s+\S+\s+FAIL(.*)$", block, re.M)
        verdict = "AGREE" if "\nAGREE" in block else ("DISAGREE" if "DISAGREE" in block else "no result")
        failing = ", ".join(f"`{n}`" + (" (sign)" if "sign" in rest else "") for n, rest in fails[:6])
        if len(fails) > 6:
            failing += f" … ({len(fails)} in all)"
        print(
            f"| {m.group(1)} | {verdict} | {worst.get('losses', '–')} | "
            f"{worst.get('first step', '–')} | {worst.get('growth checks', '–')} | {failing or '–'} |"
        )
    print()
    for line in re.findall(r"^growth_dump on .*$", log, re.M):
        print(f"- {line.split('; ')[0]}")
    print()


def throughput(out):
    log = read(os.path.join(out, "03-throughput.log"))
    print("## 3. ResNet-18 (CIFAR, full width) training throughput\n")
    print("Random 32×32 images, SGD (Nesterov 0.9, weight decay 5e-4); `async`: steps back to "
          "back; `trainer`: loss and correct count read back every step, as `grownet train` does. "
          "grownet trains in fp32 only (no bf16 or autocast path); PyTorch's bf16 rows show what "
          "one would give.\n")
    print("| implementation | precision | loop | cuDNN benchmark | batch | ms/step | images/s |")
    print("|---|---|---|---|---|---|---|")
    for line in re.findall(r"^RESULT (.*)$", log, re.M):
        f = dict(kv.split("=", 1) for kv in line.split())
        print(
            f"| {f.get('impl')} | {f.get('precision')} | {f.get('loop')} | "
            f"{f.get('cudnn_benchmark')} | {f.get('batch')} | {f.get('ms_per_step')} | "
            f"**{f.get('images_per_s')}** |"
        )
    for line in re.findall(r"^(?:torch .*|ResNet-18 .*)$", log, re.M):
        print(f"\n{line}")
    print()
    problems(log)


def problems(log):
    bad = [l for l in log.splitlines()
           if re.match(r"(TIMED OUT|SKIPPED|error:|Error|Traceback|thread '.*' panicked)", l)]
    if bad:
        print("Problems in this step:\n\n```text\n" + "\n".join(bad[:20]) + "\n```\n")


def commands(log, program):
    """The commands a step's log shows (`$ … (timeout`) whose text starts with `program`."""
    return re.findall(rf"^\$ ({program}.*) \(timeout", log, re.M)


def show(command, *subs, after=""):
    """Prints a logged command as a reader would type it: each `(pattern, replacement)` of
    `subs` applied (the machine's paths taken out), in a sh block, then `after`."""
    for pattern, replacement in subs:
        command = re.sub(pattern, replacement, command)
    print(f"```sh\n{command}\n```\n{after}")


def tagged(log, tag, log_name):
    """The log's lines starting with `tag` as a list (or where to look when there is none)."""
    lines = re.findall(rf"^{tag} (.*)$", log, re.M)
    print("\n".join(f"- {l}" for l in lines) if lines else f"(no comparison: see {log_name})")
    print()
    problems(log)


def events(out, name):
    """The events of run `name`'s metrics.jsonl inside OUT/metrics.tar.gz."""
    try:
        with tarfile.open(os.path.join(out, "metrics.tar.gz")) as tar:
            text = tar.extractfile(f"{name}/metrics.jsonl").read().decode()
    except (OSError, KeyError, tarfile.TarError, AttributeError):
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def grown(widths):
    """The blocks' hidden widths (what grows: every other stage after the stem) against
    their full widths, e.g. `61 of 1920`."""
    full = {0: 64, 1: 64, 2: 128, 3: 128, 4: 256, 5: 256, 6: 512, 7: 512}
    hidden = widths[1::2]
    return f"{sum(hidden)} of {sum(full.get(i, 0) for i in range(len(hidden)))}"


def growth(out):
    print("## 4. ResNet-18 grown from 1/64 width (TINY, round-robin over blocks) against full width\n")
    log = read(os.path.join(out, "04-growth.log"))
    for c in commands(log, r"\S*grownet train "):
        show(c, (r"^/\S*/grownet", "grownet"))
    rows = []
    for name in ("full-width", "tiny"):
        ev = events(out, name)
        epochs = [e for e in ev if e.get("event") == "epoch"]
        steps = [e for e in ev if e.get("event") == "growth" and "site" in e]
        start = next((e for e in ev if e.get("event") == "start"), {})
        if not epochs:
            print(f"**{name}**: no epoch logged (see 04-growth.log).\n")
            continue
        print(f"**{name}** ({start.get('train_samples')} training / {start.get('test_samples')} test "
              f"images, {start.get('device')}):\n")
        print("| epoch | wall s | of it growth s | train loss | test accuracy % | parameters | blocks' hidden channels |")
        print("|---|---|---|---|---|---|---|")
        for e in epochs:
            acc = e.get("test_accuracy")
            print(
                f"| {e['epoch']} | {e['epoch_seconds']:.1f} | {e['growth_seconds']:.1f} | "
                f"{e['train_loss']:.4f} | {100 * acc:.2f} | {e['parameters']:,} | "
                f"{grown(e['hidden_widths'])} |".replace(",", " ")
                if acc is not None else f"| {e['epoch']} | … |"
            )
        last = epochs[-1]
        stat = sum(s.get("seconds_statistics") or 0 for s in steps)
        dec = sum(s.get("seconds_decomposition") or 0 for s in steps)
        ls = sum(s.get("seconds_line_search") or 0 for s in steps)
        wall = last.get("wall_time", 0.0)
        grow = sum(e.get("growth_seconds", 0.0) for e in epochs)
        rows.append((name, len(epochs), wall, grow, stat, dec, ls, last, len(steps)))
        print()
        if steps:
            print(f"{len(steps)} growth steps; per step (site, neurons added, statistics s, "
                  f"decompositions s, line search s):\n")
            print("| growth step | site | neurons added | statistics s | decompositions s | line search s |")
            print("|---|---|---|---|---|---|")
            for s in steps:
                print(f"| {s['growth_step']} | {s['site']} | {s['neurons_added']} | "
                      f"{s['seconds_statistics']:.2f} | {s['seconds_decomposition']:.2f} | "
                      f"{s['seconds_line_search']:.2f} |")
            print()
        print(f"final widths: {'+'.join(str(w) for w in last['hidden_widths'])}\n")
    if rows:
        print("| run | epochs | wall s | growth s | statistics s | decompositions s | line search s | test accuracy % | parameters |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, n, wall, grow, stat, dec, ls, last, k in rows:
            acc = last.get("test_accuracy")
            print(f"| {name} | {n} | {wall:.1f} | {grow:.1f} | {stat:.1f} | {dec:.1f} | {ls:.1f} | "
                  f"{100 * acc:.2f} | {last['parameters']:,} |".replace(",", " ") if acc is not None
                  else f"| {name} | {n} | {wall:.1f} | … |")
        for name, n, wall, grow, stat, dec, ls, last, k in rows:
            if k and grow > 0:
                print(f"\n{name}: growth {grow:.1f} s = {100 * grow / max(wall, 1e-9):.0f} % of the "
                      f"wall time; of the growth, statistics {100 * stat / grow:.0f} %, host f64 "
                      f"decompositions {100 * dec / grow:.0f} %, line search {100 * ls / grow:.0f} %"
                      + (" — the decompositions dominate." if dec > max(stat, ls) else "."))
        print()
    problems(log)


def conv_cost(out):
    log = read(os.path.join(out, "05-conv-cost.log"))
    print("## 5. Statistics and decompositions of 512-channel conv sites\n")
    for c in commands(log, r"\S*conv_growth_cost")[:1]:
        show(c, (r"^/\S*/conv_growth_cost", "conv_growth_cost"))
    body = [l for l in log.splitlines() if not l.startswith(("$ ", "[exit"))]
    print("```text\n" + "\n".join(l for l in body if l.strip()) + "\n```\n")


def distributed(out):
    log = read(os.path.join(out, "06-distributed.log"))
    print("## 6. Data-parallel under torchrun (issue 14)\n")
    for c in commands(log, r"\S*torchrun ")[:1]:
        show(c, (r"/\S*/(torchrun|grownet)", r"\1"))
    tagged(log, "DIST", "06-distributed.log")


def gromo(out):
    log = read(os.path.join(out, "07-gromo.log"))
    print("## 7. GroMo's MNIST protocol on the device, grownet beside GroMo (issue 12)\n")
    for c in commands(log, r"\S*python\S* \S*compare\.py")[:1]:
        show(c, (r"^\S+ /\S*/(bench/gromo/compare\.py)", r"python3 \1"),
             (r"--binary \S+ --data-dir \S+ ", ""))
    runs = [l for l in log.splitlines() if l.startswith("seed ")]
    if runs:
        print("```text\n" + "\n".join(runs) + "\n```\n")
    table = [l for l in log.splitlines() if l.startswith(("|", "medians"))]
    print("\n".join(table) if table else "(no table: see 07-gromo.log)")
    print()
    problems(log)


def logged(text):
    """The lines of a file a step's log holds indented by four spaces (`sed 's/^/    /'`), as
    the file had them."""
    return [l[4:] for l in text.splitlines() if l.startswith("    ")]


def search(out, log_name="08-mnist-search.log", plot="08-grow-vs-search.png",
           title="## 8. Grow versus search on MNIST on the device, one seed (issue 12)",
           toml="mnist-search"):
    log = read(os.path.join(out, log_name))
    print(title + "\n")
    # The last: the whole search (the first trains the growing run alone).
    for c in commands(log, r"\S*grownet bench ")[-1:]:
        show(c, (r"^/\S*/grownet", "grownet"), (rf"/\S*/(bench/{toml}\.toml)", r"\1"),
             (r"--data-dir \S+ --out \S+ ", ""))
    report = log.split("== report.md", 1)
    body = logged(report[1]) if len(report) > 1 else []
    # The report's plots stay on the machine but grow-vs-search, which comes back beside it.
    body = [l.replace("(plots/grow-vs-search.png)", f"({plot})") for l in body
            if not l.startswith("![") or "grow-vs-search" in l]
    print("\n".join(body) if body else f"(no report: see {log_name})")
    print()
    problems(log)


def cifar_search(out):
    search(out, "10-cifar10-search.log", "10-grow-vs-search.png",
           "## 10. Grow versus search on CIFAR-10 on the device (issue 12)", "cifar10-search")


def decompositions(out):
    log = read(os.path.join(out, "09-decompositions.log"))
    print("## 9. The growth step's decompositions on the host and on the device (issue 12)\n")
    for c in commands(log, r"\S*grownet train .*--decompositions host")[:1]:
        show(c, (r"^/\S*/grownet", "grownet"), (r" --out \S+", ""), (r"--data-dir \S+ ", ""),
             after="\nthen the same with `--decompositions device`.\n")
    tagged(log, "DECOMP", "09-decompositions.log")


def cifar_12ep(out):
    """Step 11: each `grownet bench` call of bench/cifar10-search-6k-12ep.toml (the search and
    the defaults' recipe, then the probes), its report as the log holds it, plots left out
    (they stay on the machine)."""
    log = read(os.path.join(out, "11-cifar10-6k-12ep.log"))
    print("## 11. CIFAR-10 over 12 epochs, `bench/cifar10-search-6k-12ep.toml` unchanged, on the "
          "device (issue 12)\n")
    for c in commands(log, r"\S*grownet bench "):
        show(c, (r"^/\S*/grownet", "grownet"), (r"/\S*/(bench/cifar10-search-6k-12ep\.toml)", r"\1"),
             (r"--data-dir \S+ ", ""), (r"--out \S+ ", "--out OUT "))
    reports = re.split(r"^== (\S+)/report\.md$", log, flags=re.M)
    for name, text in zip(reports[1::2], reports[2::2]):
        body, plots = [], False
        for line in logged(text):
            if line.startswith("#"):
                # The report's headings two levels down; its plots section left out.
                plots = line.strip("# ") == "Plots"
                line = "##" + line + (f" (`{name}`)" if line.startswith("# ") else "")
            if not plots and not line.startswith("!["):
                body.append(line)
        print("\n".join(body) if body else f"(empty report: {name})")
        print()
    if len(reports) < 3:
        print("(no report: see 11-cifar10-6k-12ep.log)\n")
    problems(log)


def main():
    out = sys.argv[1]
    env = read(os.path.join(out, "01-environment.log"))
    cpu = "DEVICE=cpu" in env.splitlines()[0] if env else False
    print("# bench/gpu/run.sh summary" + (" — CPU DRY RUN (not GPU figures)" if cpu else ""))
    print()
    if cpu:
        print("**This is the CPU dry run of the GPU script, at tiny sizes: it shows that the "
              "steps run and what they report, not what a GPU does.**\n")
    print("## 1. Machine\n")
    environment(out)
    sections = [("02-agreement.log", agreement), ("03-throughput.log", throughput),
                ("04-growth.log", growth), ("05-conv-cost.log", conv_cost),
                ("06-distributed.log", distributed), ("07-gromo.log", gromo),
                ("08-mnist-search.log", search), ("09-decompositions.log", decompositions),
                ("10-cifar10-search.log", cifar_search), ("11-cifar10-6k-12ep.log", cifar_12ep)]
    for log, section in sections:
        if os.path.exists(os.path.join(out, log)):
            section(out)


if __name__ == "__main__":
    main()
