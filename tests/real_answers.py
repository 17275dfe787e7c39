"""The corpus of real LLM answers (tests/data/answers/labels.toml) and the validator's table on it.

Each answer is read from the report excerpt it was published in, checked as the analysis ladder
checks it (`check_answer`, with the headings its prompt asked for) and compared with the hand
labels: refusal / degenerate / good, and which opening and closing lines are chat.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from newsletter.analyze.validate import (
    ABSTRACT_POINTS,
    FULLTEXT_SECTIONS,
    RULE_RE,
    SUMMARY_SECTIONS,
    CheckResult,
    check_answer,
    strip_preamble,
)
from newsletter.render.markdown import parse_markdown

DATA = Path(__file__).resolve().parent / "data"
LABELS = DATA / "answers" / "labels.toml"
# what each prompt of the system we replace asked for: our kind, and the headings we check
PROMPTS = {
    "summary": ("summary", SUMMARY_SECTIONS["zh"]),
    "fulltext7": ("fulltext", FULLTEXT_SECTIONS["zh"]),
    "abstract5": ("abstract", ABSTRACT_POINTS["zh"]),
    "fulltext5": ("fulltext", None),  # 2025 prompt: five items in English, no headings named
}


@dataclass
class Outcome:
    answer: dict
    text: str
    result: CheckResult
    removed: list[str]
    kept: str  # the answer after strip_preamble
    expected: str  # the answer without its labelled chat lines

    @property
    def name(self) -> str:
        return f"{self.answer['report']}/{self.answer['part']}"


def load() -> tuple[dict, list[dict]]:
    data = tomllib.loads(LABELS.read_text(encoding="utf-8"))
    return data["reports"], data["answers"]


def _answer_text(path: Path, part: str, cache: dict) -> str:
    if path not in cache:
        cache[path] = parse_markdown(path.read_text(encoding="utf-8"))
    ed = cache[path]
    if part == "summary":
        return ed.summary
    return next(e for e in ed.entries if e.paper.versioned_id == part).analysis.text


def without_labelled(text: str, preamble: list[str], signoff: list[str]) -> str:
    """The answer with exactly its labelled chat lines (and the blank lines and rules next to them) removed."""
    lines = text.strip().splitlines()
    pre, sign = list(preamble), list(signoff)

    def skip(ln: str, todo: list[str], first: bool) -> bool:
        s = ln.strip()
        if not s or RULE_RE.match(ln):
            return True
        if todo and s == (todo[0] if first else todo[-1]):
            todo.pop(0 if first else -1)
            return True
        return False

    while lines and skip(lines[0], pre, True):
        lines.pop(0)
    while lines and skip(lines[-1], sign, False):
        lines.pop()
    assert not pre and not sign, f"labelled lines not found at the ends: {pre + sign}"
    return "\n".join(lines).strip()


def evaluate() -> list[Outcome]:
    reports, answers = load()
    cache: dict = {}
    out = []
    for a in answers:
        text = _answer_text(DATA / reports[a["report"]]["file"], a["part"], cache)
        kind, headings = PROMPTS[a["prompt"]]
        kept, removed = strip_preamble(text)
        out.append(Outcome(
            answer=a, text=text, result=check_answer(text, "stop", "zh", kind, headings), removed=removed,
            kept=kept, expected=without_labelled(text, a["preamble"], a["signoff"]),
        ))
    return out


def table(outcomes: list[Outcome]) -> str:
    """The confusion tables, as Markdown (the README shows this very text)."""
    rows = ["| hand label | answers | shipped | rejected |", "|---|---|---|---|"]
    for label in ("good", "refusal", "degenerate"):
        group = [o for o in outcomes if o.answer["label"] == label]
        shipped = sum(o.result.ok for o in group)
        reasons: dict[str, int] = {}
        for o in group:
            for f in o.result.failed:
                reasons[f] = reasons.get(f, 0) + 1
        why = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
        rows.append(f"| {label} | {len(group)} | {shipped} | {len(group) - shipped}{f' ({why})' if why else ''} |")
    rows += ["", "| chat line (hand label) | lines | stripped | left in |", "|---|---|---|---|"]
    for key, name in (("preamble", "preamble"), ("signoff", "sign-off")):
        labelled = [(o, ln) for o in outcomes for ln in o.answer[key]]
        stripped = sum(ln in o.removed for o, ln in labelled)
        rows.append(f"| {name} | {len(labelled)} | {stripped} | {len(labelled) - stripped} |")
    wrong = sum(ln not in o.answer["preamble"] + o.answer["signoff"] for o in outcomes for ln in o.removed)
    lost = sum(o.kept != o.expected for o in outcomes)
    rows.append(f"| content (no label) | — | {wrong} lines | answers changed otherwise: {lost} |")
    return "\n".join(rows)
