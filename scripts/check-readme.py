#!/usr/bin/env python3
"""Check README.md's measured results and every relative link against the committed files.

Run from anywhere: `python3 scripts/check-readme.py` (tests/readme.rs runs it under `cargo test`;
`--self-test` checks the checker on small made-up files; `--verbose` shows where each number was
found). Exit status 1, with one line per
problem (file:line and what is wrong), when a rule below is broken.

1. Links. Every relative link in README.md, docs/*.md and bench/results/**/*.md
   (`[text](target)`, `![alt](target)`, `[ref]: target`, `src="…"`, `href="…"`) must name a
   file or folder of the repository that exists and is tracked or can be committed (not ignored
   by git: a link into runs/ or bench-runs/ fails). Links with a scheme (https:, mailto:) and
   in-page `#anchors` are not followed. In README.md, a code span that is a bare path under
   bench/, docs/ or scripts/ (`bench/results/senn.md`) must exist as well.

2. Numbers in README's "## Measured results" section. The section is read in blocks: a
   paragraph, a list item, a table, a heading (fenced code, i.e. commands, is skipped). A block
   is *sourced* by an HTML comment on the line right above it or inside it:

       <!-- from: bench/results/teacher-bench/report.md bench/results/teacher-bench/results.csv -->

   Every number in a sourced block must then occur in one of the named files (each under
   bench/results/), or be derived in the block by a comment such as

       <!-- derived: 0.32 = 98.15 - 97.83; 87 = sum(col("bench/results/x/results.csv", "wall_seconds")) -->

   whose operands occur in the named files and whose value, rounded to the number's decimals,
   is the number (+ - * /, parentheses, sum/min/max/len/mean of lists, col(FILE, COLUMN) a CSV
   column). How a number matches a file's: by value (36.0 = 36), spaces between digit groups
   dropped (269 322 = 269322), a percentage also as a fraction (98.42 = 0.9842). A number
   written "~x", "≈ x", "about x" or "around x" may be a rounding of a file's number, and "x k"
   a rounding to the thousand (206 k for 205743).
   Not numbers of results, so not checked: code spans (commands, flags, paths), link targets,
   comments, numbers inside words and paths (ResNet-18, f64, 1/64), architecture chains
   (784-256-256-10), and bounds written after ≥ ≤ < > (targets and limits: ≥ 97 %, ≤ 9).
   A block without a `from` comment is an error if it is a table or holds a figure that looks
   like a result: a number followed by %, s (seconds), s/epoch, samples/s, GFLOP/s, ×, "points"
   or the end of bold type (**0.0039**), or a ± pair.

Small integers (seeds, counts) match almost any file, so the check is strongest on the
measured values themselves; it proves that a number was copied (or computed) from the named
file, not that the sentence around it describes it correctly.
"""
import ast
import csv
import os
import re
import subprocess
import sys
import tempfile
from decimal import Decimal, InvalidOperation, getcontext

getcontext().prec = 40

RESULTS_HEADING = "## Measured results"
VERBOSE = False
SOURCE_DIR = "bench/results/"

# A number as written in prose: digit groups joined by a (thin) space, or a plain decimal with
# an optional exponent. Preceded by neither a word character nor a dot.
NUM = re.compile(
    r"(?<![\w.])(\d{1,3}(?:[ \u2009\u202f]\d{3})+(?![\d.])|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
)
# Any digits in a source file (liberal: "s0", "n9" and "2026-11-21" give their numbers too).
FILE_NUM = re.compile(r"\d{1,3}(?:[ \u2009\u202f]\d{3})+(?![\d.])|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
CHAIN = re.compile(r"\d+(?:-\d+)+(?![\d.])")  # 784-256-256-10, 20-16-4
APPROX_BEFORE = re.compile(r"(?:~|≈|\babout|\baround)\s*$")
BOUND_BEFORE = re.compile(r"(?:≥|≤|<|>|>=|<=)\s*$")
RESULT_AFTER = re.compile(r"^\s*(?:%|s\b|s/epoch|samples/s|GFLOP/s|×|points?\b|\*\*)")
K_AFTER = re.compile(r"^\s?k\b")
COMMENT = re.compile(r"<!--(.*?)-->", re.S)
CODE_SPAN = re.compile(r"`[^`]*`")
IMAGE_OR_LINK_TARGET = re.compile(r"\]\([^)]*\)")


def dec(text):
    return Decimal(re.sub(r"[ \u2009\u202f]", "", text))


def decimals(text):
    text = re.sub(r"[ \u2009\u202f]", "", text)
    exp = Decimal(text).as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def blank_out(text, pattern):
    """Replace each match by spaces (newlines kept), so offsets and line numbers stay put."""
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


class Repo:
    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.files = None  # tracked or addable files, None when git cannot tell
        try:
            out = subprocess.run(
                ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True,
            ).stdout.decode("utf-8", "surrogateescape")
            self.files = {p for p in out.split("\0") if p}
        except (OSError, subprocess.CalledProcessError):
            pass
        self._numbers = {}

    def committable(self, rel):
        """Whether rel (a path relative to the root, file or folder) exists and is not ignored."""
        rel = os.path.normpath(rel).replace(os.sep, "/")
        if rel.startswith("../") or rel == "..":
            return False
        path = os.path.join(self.root, rel)
        if not os.path.exists(path):
            return False
        if self.files is None:
            return True
        if os.path.isdir(path):
            return rel == "." or any(f.startswith(rel + "/") for f in self.files)
        return rel in self.files

    def numbers(self, rel):
        """The values (Decimal) of every number in a source file."""
        if rel not in self._numbers:
            with open(os.path.join(self.root, rel), encoding="utf-8") as f:
                text = f.read()
            values = set()
            for m in FILE_NUM.finditer(text):
                values.add(dec(m.group(0)))
                for part in m.group(0).split():  # "269 322" is also 269 and 322
                    values.add(Decimal(part))
            self._numbers[rel] = values
        return self._numbers[rel]

    def column(self, rel, name):
        with open(os.path.join(self.root, rel), encoding="utf-8", newline="") as f:
            return [Decimal(row[name]) for row in csv.DictReader(f)]


# ---------------------------------------------------------------------------------- links


def markdown_files(repo):
    out = ["README.md"]
    for d in ["docs", SOURCE_DIR.rstrip("/")]:
        for dirpath, _, names in os.walk(os.path.join(repo.root, d)):
            for n in sorted(names):
                if n.endswith(".md"):
                    rel = os.path.relpath(os.path.join(dirpath, n), repo.root).replace(os.sep, "/")
                    if repo.committable(rel):
                        out.append(rel)
    return sorted(set(out), key=out.index)


def strip_fences(text):
    """Fenced code blocks (commands) replaced by empty lines; line numbers stay put."""
    out, fence = [], None
    for line in text.split("\n"):
        m = re.match(r"\s*(```+|~~~+)", line)
        if fence is None and m:
            fence = m.group(1)
            out.append("")
        elif fence is not None:
            if line.strip().startswith(fence):
                fence = None
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def strip_code(text):
    """Comments, fenced code blocks and code spans blanked out (links in them are not links)."""
    return blank_out(strip_fences(blank_out(text, COMMENT)), CODE_SPAN)


LINK_PATTERNS = [
    re.compile(r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)"),
    re.compile(r"^\s{0,3}\[(?!\^)[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M),
    re.compile(r"\b(?:src|href)\s*=\s*\"([^\"]*)\""),
]


def check_links(repo, errors):
    for rel in markdown_files(repo):
        with open(os.path.join(repo.root, rel), encoding="utf-8") as f:
            raw = f.read()
        text = strip_code(raw)
        base = os.path.dirname(rel)
        for pattern in LINK_PATTERNS:
            for m in pattern.finditer(text):
                target = m.group(1)
                line = text.count("\n", 0, m.start(1)) + 1
                if not target or target.startswith("#") or re.match(r"^[a-zA-Z][\w+.-]*:", target):
                    continue
                path = re.sub(r"[#?].*$", "", target)
                path = re.sub(r"%20", " ", path)
                full = path.lstrip("/") if path.startswith("/") else os.path.join(base, path)
                if not repo.committable(full):
                    errors.append(f"{rel}:{line}: link target {target!r} is not a committed file")
        if rel == "README.md":
            prose = strip_fences(blank_out(raw, COMMENT))
            for m in re.finditer(r"`((?:bench|docs|scripts)/[\w./+-]*)`", prose):
                line = prose.count("\n", 0, m.start(1)) + 1
                if not repo.committable(m.group(1)):
                    errors.append(f"README.md:{line}: path `{m.group(1)}` is not a committed file")



# -------------------------------------------------------------------------------- numbers


def results_blocks(readme):
    """(first line number, text) of each block of the results section, code fences skipped."""
    lines = readme.split("\n")
    try:
        start = next(i for i, l in enumerate(lines) if l.strip() == RESULTS_HEADING)
    except StopIteration:
        return None
    blocks, cur, cur_start, fence = [], [], None, None

    def flush():
        nonlocal cur, cur_start
        if cur:
            blocks.append((cur_start, "\n".join(cur)))
        cur, cur_start = [], None

    in_comment = False
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if fence is None and re.match(r"##\s", line):
            break
        m = re.match(r"\s*(```+|~~~+)", line)
        if fence is None and m:
            flush()
            fence = m.group(1)
            continue
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
            continue
        if not line.strip():
            flush()
            continue
        new_item = re.match(r"\s*(?:[-*+]|\d+\.)\s", line) or line.lstrip().startswith("#")
        prev = cur[-1] if cur else ""
        prev_is_comment = bool(re.fullmatch(r"\s*<!--.*-->\s*", prev, re.S)) or in_comment
        if new_item and cur and not prev_is_comment:
            flush()
        if cur_start is None:
            cur_start = i + 1
        cur.append(line)
        if "<!--" in line and "-->" not in line.split("<!--")[-1]:
            in_comment = True
        elif "-->" in line:
            in_comment = False
        if line.lstrip().startswith("#") and not in_comment:
            flush()
    flush()
    return blocks


def evaluate(expr, repo, sources, where, errors):
    """Decimal value of a derived expression, or None (with an error) when it is not allowed."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        errors.append(f"{where}: cannot read derived expression {expr.strip()!r}")
        return None
    funcs = {
        "sum": lambda xs: sum(xs, Decimal(0)),
        "min": lambda *a: min(a[0]) if len(a) == 1 else min(a),
        "max": lambda *a: max(a[0]) if len(a) == 1 else max(a),
        "len": lambda xs: Decimal(len(xs)),
        "mean": lambda xs: sum(xs, Decimal(0)) / len(xs),
    }

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            text = ast.get_source_segment(expr.strip(), node)
            value = Decimal(text)
            if not any(value in repo.numbers(s) or value / 100 in repo.numbers(s) for s in sources):
                raise ValueError(f"operand {text} is in none of {', '.join(sources)}")
            return value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in (ast.Add, ast.Sub, ast.Mult, ast.Div):
            a, b = ev(node.left), ev(node.right)
            return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(type(node.op)) \
                if not isinstance(node.op, ast.Div) else a / b
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "col":
                if len(node.args) != 2 or not all(
                    isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args
                ):
                    raise ValueError('col takes two strings: col("FILE", "COLUMN")')
                path, column = node.args[0].value, node.args[1].value
                if path not in sources:
                    raise ValueError(f"col() reads {path}, which the block's `from` does not name")
                return repo.column(path, column)
            if node.func.id in funcs:
                return funcs[node.func.id](*[ev(a) for a in node.args])
        raise ValueError(f"{ast.dump(node)[:60]} is not allowed")

    try:
        return ev(tree)
    except (ValueError, KeyError, InvalidOperation, ZeroDivisionError, OSError) as e:
        errors.append(f"{where}: derived {expr.strip()!r}: {e}")
        return None


def close(value, text):
    """Whether value, rounded to the decimals of the number written as text, is that number."""
    return abs(value - dec(text)) <= Decimal(5) * Decimal(10) ** -(decimals(text) + 1)


def scan_numbers(text):
    """(offset, text, approximate, thousands) of each checked number; bounds and chains dropped."""
    text = blank_out(text, CHAIN)
    out = []
    for m in NUM.finditer(text):
        start, num = m.start(1), m.group(1)
        before, after = text[max(0, start - 12):start], text[m.end(1):m.end(1) + 12]
        if start > 0 and text[start - 1] in "-/_" and start > 1 and text[start - 2].isalnum():
            continue  # ResNet-18, 1/64, conv_3
        if re.match(r"[A-Za-z_]", after) and not K_AFTER.match(after):
            continue  # 2nd, 64x: fused to a word
        if BOUND_BEFORE.search(before):
            continue
        out.append((start, num, bool(APPROX_BEFORE.search(before)), bool(K_AFTER.match(after))))
    return out


def check_results(repo, readme, errors):
    blocks = results_blocks(readme)
    if blocks is None:
        errors.append(f"README.md: no {RESULTS_HEADING!r} section")
        return 0
    checked = 0
    for first, block in blocks:
        comments = [c.strip() for c in COMMENT.findall(block)]
        sources, derived = [], []
        for c in comments:
            if c.startswith("from:"):
                sources += c[len("from:"):].split()
            elif c.startswith("derived:"):
                derived += [d for d in re.split(r"[;\n]", c[len("derived:"):]) if d.strip()]
        text = blank_out(block, COMMENT)
        text = blank_out(text, CODE_SPAN)
        text = blank_out(text, IMAGE_OR_LINK_TARGET)
        numbers = scan_numbers(text)
        line_of = lambda off: first + block.count("\n", 0, off)  # noqa: E731
        is_table = block.lstrip().startswith("|") or "\n|" in text
        if not sources:
            if derived:
                errors.append(f"README.md:{first}: a `derived` comment without a `from` comment")
            looks = [n for n in numbers if RESULT_AFTER.match(text[n[0] + len(n[1]):])]
            if "±" in text:
                looks.append((text.index("±"), "±", False, False))
            if is_table or looks:
                what = "a table" if is_table else f"{looks[0][1]!r} (line {line_of(looks[0][0])})"
                errors.append(
                    f"README.md:{first}: block with {what} in the results section has no "
                    f"<!-- from: {SOURCE_DIR}… --> comment naming the file its numbers come from"
                )
            continue
        bad = [s for s in sources if not s.startswith(SOURCE_DIR) or not repo.committable(s)
               or os.path.isdir(os.path.join(repo.root, s))]
        for s in bad:
            errors.append(f"README.md:{first}: source {s!r} is not a committed file under {SOURCE_DIR}")
        sources = [s for s in sources if s not in bad]
        allowed = set()
        for d in derived:
            if "=" not in d:
                errors.append(f"README.md:{first}: derived {d.strip()!r} is not 'NUMBER = EXPRESSION'")
                continue
            lhs, expr = d.split("=", 1)
            lhs = lhs.strip()
            value = evaluate(expr, repo, sources, f"README.md:{first}", errors)
            if value is None:
                continue
            if not re.fullmatch(r"\d+(?:\.\d+)?", lhs) or not close(value, lhs):
                errors.append(
                    f"README.md:{first}: derived {lhs} = {expr.strip()} is {value.normalize():f}, "
                    f"not {lhs}"
                )
                continue
            if not any(n[1] == lhs or dec(n[1]) == dec(lhs) for n in numbers):
                errors.append(f"README.md:{first}: derived number {lhs} is not in the text")
            allowed.add(dec(lhs))
        for off, num, approx, thousands in numbers:
            checked += 1
            value = dec(num)
            if value in allowed:
                if VERBOSE:
                    print(f"README.md:{line_of(off)}: {num} derived")
                continue
            found = False
            for s in sources:
                values = repo.numbers(s)
                if thousands:
                    found = any(close(v / 1000, num) for v in values)
                elif value in values or value / 100 in values:
                    found = True
                elif approx:
                    found = any(close(v, num) or close(v * 100, num) for v in values)
                if found:
                    if VERBOSE:
                        print(f"README.md:{line_of(off)}: {num} in {s}")
                    break
            if not found:
                shown = num + (" k" if thousands else "")
                errors.append(
                    f"README.md:{line_of(off)}: {shown} is in none of {', '.join(sources)}"
                    + ("" if approx or thousands else " (write ~x for a rounded number, or add a derived comment)")
                )
    return checked


def run(root):
    repo = Repo(root)
    errors = []
    with open(os.path.join(repo.root, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    check_links(repo, errors)
    checked = check_results(repo, readme, errors)
    return errors, checked


# ------------------------------------------------------------------------------ self-test


def self_test():
    """The checker on made-up trees: what must pass passes, each kind of mistake fails."""
    csv_text = "method,seed,test_accuracy,wall_seconds\na,0,0.9842,10.5\na,1,0.9838,20.25\n"
    report = "| a | 98.40 ± 0.03 | 269 322 | 205743 |\n![p](plots/p.svg)\n"
    good = """# x

[doc](docs/a.md)

## Measured results

**Fixed MLP 784-256-256-10** (target ≥ 99.9 %), `--epochs 15`:

<!-- from: bench/results/r/results.csv bench/results/r/report.md -->
<!-- derived: 0.04 = 98.42 - 98.38; 30.75 = sum(col("bench/results/r/results.csv", "wall_seconds")) -->
accuracy **98.40 ± 0.03 %** (98.42, 98.38; 0.04 points apart), 269 322 parameters, ~206 k,
~20 s for seed 1, 30.75 s in all, ResNet-18 at 1/64.

| <!-- from: bench/results/r/report.md --> a | 98.40 |
|---|---|
"""
    cases = [
        ("correct", good, None),
        ("a wrong number", good.replace("(98.42, 98.38;", "(98.43, 98.38;"),
         "README.md:11: 98.43 is in none of"),
        ("a rounded number without ~", good.replace("~20 s", "20 s"),
         "README.md:12: 20 is in none of"),
        ("a wrong derived value", good.replace("0.04 = 98.42", "0.05 = 98.42").replace(
            "0.04 points", "0.05 points"), "derived 0.05 = 98.42 - 98.38 is 0.04, not 0.05"),
        ("a derived operand not in the file",
         good.replace("0.04 = 98.42 - 98.38", "0.04 = 98.44 - 98.40"), "operand 98.44 is in none"),
        ("a table without a source",
         good.replace("| <!-- from: bench/results/r/report.md --> a", "| a"),
         "README.md:14: block with a table in the results section has no"),
        ("a % figure without a source", good + "\nTINY reaches 97.1 % here.\n",
         "README.md:17: block with '97.1' (line 17)"),
        ("a bold figure without a source", good + "\nSENN reaches a test MSE of **0.0039**.\n",
         "README.md:17: block with '0.0039' (line 17)"),
        ("a broken link", good.replace("docs/a.md", "docs/b.md"),
         "README.md:3: link target 'docs/b.md' is not a committed file"),
    ]
    failures = 0
    for name, readme, expected in cases:
        with tempfile.TemporaryDirectory() as d:
            for rel, content in [("README.md", readme), ("docs/a.md", "[up](../README.md)\n"),
                                 ("bench/results/r/results.csv", csv_text),
                                 ("bench/results/r/report.md", report),
                                 ("bench/results/r/plots/p.svg", "<svg/>")]:
                os.makedirs(os.path.join(d, os.path.dirname(rel)), exist_ok=True)
                with open(os.path.join(d, rel), "w", encoding="utf-8") as f:
                    f.write(content)
            errors, _ = run(d)
        if expected is None:
            ok = not errors
        else:
            ok = any(expected in e for e in errors)
        failures += not ok
        print(f"self-test {'ok  ' if ok else 'FAIL'} {name}: "
              f"{'passes' if not errors else 'fails: ' + ' | '.join(errors)}")
    return failures == 0


def main():
    global VERBOSE
    VERBOSE = "--verbose" in sys.argv[1:]
    if "--self-test" in sys.argv[1:]:
        sys.exit(0 if self_test() else 1)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    errors, checked = run(root)
    for e in errors:
        print(e)
    if errors:
        print(f"check-readme: {len(errors)} problem(s); the rules are at the top of scripts/check-readme.py")
        sys.exit(1)
    print(f"check-readme: links resolve; {checked} numbers of README's results section found in their files")


if __name__ == "__main__":
    main()
