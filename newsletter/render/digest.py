"""An edition in short: one-line takeaways, the summary's first paragraph, analyses cut to an allowance.

Shared by the HTML email and the text part, so both say the same thing in the same order.
Cuts happen only at block boundaries (no unbalanced emphasis, list or code fence is left behind)
and widths count CJK characters as two columns.
"""

from __future__ import annotations

import re
import unicodedata

from ..models import EditionEntry
from .sanitize import one_line

TAKEAWAY_COLUMNS = 100  # one-line takeaway in the list and the preheader: ~2 lines on a phone
SUMMARY_EXCERPT = 240  # characters of the executive summary the email shows

_KEY_SECTION = re.compile(
    r"总结|结论|核心|贡献|要点|summary|conclusion|takeaway|contribution|key", re.IGNORECASE
)
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_RULE = re.compile(r"\s*([-*_])(\s*\1){2,}\s*")


class _Widths(dict):
    """Display width per character, looked up once each (wide and full-width East Asian count two)."""

    def __missing__(self, ch: str) -> int:
        w = self[ch] = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        return w


_WIDTHS = _Widths()
display_width = _WIDTHS.__getitem__  # one character's columns


def text_width(text: str) -> int:
    """Display columns of `text` (CJK count two): `len` for ASCII, else a lookup per character."""
    return len(text) if text.isascii() else sum(map(display_width, text))


def clip_columns(text: str, columns: int) -> str:
    """`text` cut to `columns` display columns (CJK count two) at a word boundary, with "…"."""
    if len(text) * 2 <= columns or text_width(text) <= columns:
        return text
    out, used = [], 1
    for ch in text:
        used += display_width(ch)
        if used > columns:
            break
        out.append(ch)
    cut = "".join(out)
    space = cut.rfind(" ")
    if space > len(cut) * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,;:，；：") + "…"


def _blocks(text: str) -> list[str]:
    """Markdown split at blank lines outside code fences: the units a cut may keep or drop."""
    blocks, cur, fenced = [], [], False
    for line in text.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        if not line.strip() and not fenced:
            if cur:
                blocks.append("\n".join(cur))
                cur = []
            continue
        cur.append(line)
    if cur:
        blocks.append("\n".join(cur))
    return blocks


def shorten_analysis(text: str, allowance: int) -> str:
    """The analysis cut to about `allowance` characters, keeping whole blocks.

    Sections whose heading names a summary/conclusion/contribution come first, then the others
    in order, each from its heading on; the result keeps the original order. Cutting only at
    block boundaries means no unbalanced emphasis, list or code fence is left behind.
    """
    if allowance <= 0:
        return ""
    blocks = _blocks(text)
    if sum(len(b) for b in blocks) <= allowance:
        return "\n\n".join(blocks)
    sections: list[list[int]] = [[]]
    for i, b in enumerate(blocks):
        if _HEADING.match(b) or (b.startswith("**") and b.rstrip().endswith("**") and len(b) < 80):
            sections.append([])
        sections[-1].append(i)
    sections = [s for s in sections if s]

    def is_key(s: list[int]) -> bool:
        head = blocks[s[0]]
        return bool(_HEADING.match(head) or head.startswith("**")) and bool(_KEY_SECTION.search(head[:80]))

    def is_empty(s: list[int]) -> bool:  # a heading or rule with no text of its own: not worth the room
        return all(_HEADING.match(blocks[i]) or _RULE.fullmatch(blocks[i]) or blocks[i].startswith("**")
                   and blocks[i].rstrip().endswith("**") and len(blocks[i]) < 80 for i in s)

    order = [s for s in sections if is_key(s)] + [s for s in sections if not is_key(s) and not is_empty(s)]
    keep: set[int] = set()
    used = 0
    for s in order:
        for n, i in enumerate(s):
            cost = len(blocks[i]) + 2
            if n == 0 and len(s) > 1:
                cost += len(blocks[s[1]]) + 2  # a heading only comes with its first paragraph
            if used + cost > allowance:
                break
            if i not in keep:
                keep.add(i)
                used += len(blocks[i]) + 2
    if not keep and blocks:  # nothing fits whole: the first paragraph, cut at a sentence
        first = blocks[0] if not _HEADING.match(blocks[0]) or len(blocks) == 1 else blocks[1]
        if _FENCE.match(first):
            return ""
        if first.lstrip().startswith("|"):  # a table cut mid-row is garbage; whole, it scrolls in its box
            return first
        cut = first[:allowance]
        stop = max(cut.rfind(c) for c in "。.！!？?；;")
        return (cut[: stop + 1] if stop > allowance // 3 else cut.rstrip()) + " …"
    return "\n\n".join(blocks[i] for i in sorted(keep))


def takeaway(e: EditionEntry) -> str:
    """The paper's one-line takeaway (its first key finding, Markdown markup removed), or ""."""
    for k in (e.analysis.key_findings if e.analysis else []):
        line = one_line(re.sub(r"[*_`]|\[|\]\([^)]*\)|\]", "", k))
        if line:
            return clip_columns(line, TAKEAWAY_COLUMNS)
    return ""


_PREAMBLE_END = re.compile(r"[:：]\s*$")


def summary_excerpt(summary: str, limit: int = SUMMARY_EXCERPT) -> str:
    """The first prose paragraph of the executive summary, cut at a sentence: a skippable teaser.

    Headings, bold-only lines, rules and lists are skipped, and so is a leading paragraph that
    only announces what follows ("Here is a concise summary …:"), which LLMs like to open with.
    """
    prose = [b for b in _blocks(summary.strip()) if not (
        _HEADING.match(b) or _FENCE.match(b) or _RULE.fullmatch(b)
        or re.match(r"\s*([-*+]|\d+[.)])\s", b) or (b.startswith("**") and b.rstrip().endswith("**"))
        or b.startswith(("|", ">")))]
    if len(prose) > 1 and _PREAMBLE_END.search(prose[0]):
        prose = prose[1:]
    if not prose:
        return ""
    first = one_line(prose[0])
    if _PREAMBLE_END.search(first):  # "… trends include:" announces a list the excerpt leaves out
        stop = max(first.rfind(c) for c in "。.！!？?；;")
        first = first[: stop + 1] if stop > 0 else first
    if len(first) <= limit:
        return first
    return shorten_analysis(first, limit)


_NOTICE = re.compile(r"\A>\s*\*\*(.+?)\*\*\s*(?:\n\n|\Z)", re.S)


def leading_notice(summary: str) -> tuple[str, str]:
    """(notice, the rest): a summary may open with a `> **…**` notice (e.g. the LLM was unavailable
    and the analyses are extractive) that the email and text part must show at the top, not skip."""
    m = _NOTICE.match(summary.strip())
    if not m:
        return "", summary
    return one_line(m.group(1)), summary.strip()[m.end():]
