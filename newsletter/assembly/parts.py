"""The marker format render writes and `parse_parts`, which cuts a marked render into `Parts` once.

See the package docstring (newsletter/assembly/__init__.py) for the markers and why they cannot be forged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

# slots: a piece of a fragment is a str (literal), a slot below, or (text only) an int j >= 0:
# the reference "[n]" to link j of Parts.urls, numbered per reader by first appearance
RANK, NUM, COUNT, INTRO, PREHEADER, DROPPED_NOTE, FB_UP, FB_DOWN, LINKS = range(-1, -10, -1)
ITEMS, CARDS, DROPPED, DITEMS, FEEDBACK = range(-10, -15, -1)
SLOTS = {"RANK": RANK, "NUM": NUM, "COUNT": COUNT, "INTRO": INTRO, "PREHEADER": PREHEADER,
         "DROPPED_NOTE": DROPPED_NOTE, "FB_UP": FB_UP, "FB_DOWN": FB_DOWN, "LINKS": LINKS, "ITEMS": ITEMS,
         "CARDS": CARDS, "DROPPED": DROPPED, "DITEMS": DITEMS, "FEEDBACK": FEEDBACK}
SLOT_RE = re.compile(r"%%NL_(?:(" + "|".join(SLOTS) + r")|L(\d+))%%")
# what a finished fragment may still hold: only the per-recipient placeholders
_LEFTOVER = re.compile(r"%%NL_(?!(?:NAME|EMAIL|UNSUBSCRIBE_URL)%%)")
FORMAT_VERSION = 1

Piece = str | int
Feedback = Callable[[str, int], "str | None"]


def slot(name: str) -> str:
    """The token render writes where a per-reader value goes (e.g. slot("RANK"))."""
    return f"%%NL_{name}%%"


def link_slot(j: int) -> str:
    """The token for the text part's link j (of the render's URL table)."""
    return f"%%NL_L{j}%%"


def html_mark(name: str, nonce: str) -> str:
    return f"<!--nl:{nonce}:{name}-->"


def text_mark(name: str) -> str:
    """A marker line of the text part (render writes it as a line of its own)."""
    return f"%%NL_PART {name}%%"


class PartsError(ValueError):
    """The marked render does not have the markers where they must be (e.g. an old template override)."""


@dataclass
class Parts:
    """Everything needed to assemble any reader's HTML and text from one render."""

    ids: list[str]  # the edition's papers in rank order
    html: list[Piece]  # the skeleton: head, list, summary, cards, dropped section, footer, as slots
    text: list[Piece]
    items_html: dict[str, list[Piece]]  # paper id -> its compact-list <li>
    cards_html: dict[str, list[Piece]]  # paper id -> its card section (RANK and FEEDBACK slots)
    dropped_html: dict[str, list[Piece]]  # paper id -> its title-only <li>
    items_text: dict[str, list[Piece]]
    cards_text: dict[str, list[Piece]]
    dropped_text: dict[str, list[Piece]]
    dropped_section_html: list[Piece]  # the title-only section around DITEMS, with DROPPED_NOTE
    dropped_section_text: list[Piece]
    feedback_html: list[Piece]  # the card's "more/less like this" block with FB_UP/FB_DOWN; [] = none
    feedback_text: list[Piece]
    preheaders: dict[str, str]  # paper id -> the inbox preview line when it is the reader's top paper
    preheader: str  # when none of the reader's papers has one
    urls: list[str]  # the text part's link table (link slots index it)
    words: dict[str, str]  # count, count_one, intro, intro_one, intro_zero, dropped, dropped_one ({n})
    max_cards: int | None = None  # full cards a reader may get; the rest are title-only
    version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, s: str) -> Parts:
        try:
            data = json.loads(s)
            if data.get("version") != FORMAT_VERSION:
                raise PartsError(f"stored parts have format {data.get('version')}, expected {FORMAT_VERSION}")
            return cls(**data)
        except (ValueError, TypeError, AttributeError) as e:  # PartsError is a ValueError too
            raise e if isinstance(e, PartsError) else PartsError(f"stored parts are not readable: {e}") from None

    def fragment(self, kind: str, paper_id: str) -> str:
        """A paper's HTML fragment ("items", "cards", "dropped") without its slots: what it weighs."""
        return "".join(p for p in getattr(self, f"{kind}_html")[paper_id] if isinstance(p, str))


# -- parsing ------------------------------------------------------------------------------------


class _Format:
    """How one part writes its markers: `mark(name)` plus `end` (the text part's line break)."""

    def __init__(self, mark: Callable[[str], str], end: str):
        self.mark, self.end = mark, end
        self.prefix = mark("\x00").split("\x00")[0]  # what every marker starts with

    def token(self, name: str) -> str:
        return self.mark(name) + self.end


_TEXT = _Format(text_mark, "\n")


def _entry_pattern(fmt: _Format, name: str) -> re.Pattern:
    open_, close = fmt.mark("\x00").split("\x00")
    return re.compile(re.escape(open_ + name + ":") + r"(\d+)" + re.escape(close + fmt.end))


def _take(s: str, fmt: _Format, name: str, n: int | None, replace: str) -> tuple[str, str | list[str] | None]:
    """Cut region `name` out of `s` (replaced by `replace`): its content, or with `n` its n entries."""
    a, b = fmt.token(name), fmt.token("/" + name)
    i = s.find(a)
    if i < 0:
        return s, None
    j = s.find(b, i)
    if j < 0 or s.find(a, i + 1) >= 0:
        raise PartsError(f"marker {name!r} is not one balanced region")
    inner = s[i + len(a) : j]
    if n is None:
        return s[:i] + replace + s[j + len(b) :], inner
    split = _entry_pattern(fmt, name).split(inner)
    if [int(x) for x in split[1::2]] != list(range(n)) or split[0].strip():
        raise PartsError(f"region {name!r} does not hold entries 0..{n - 1} in order")
    # whitespace a serialiser put before the first entry stays in the skeleton
    return s[:i] + split[0] + replace + s[j + len(b) :], split[2::2]


def _pieces(s: str, fmt: _Format) -> list[Piece]:
    """A finished string cut at its slots; a marker or slot left over is an error."""
    out: list[Piece] = []
    pos = 0
    for m in SLOT_RE.finditer(s):
        if m.start() > pos:
            out.append(s[pos : m.start()])
        out.append(SLOTS[m.group(1)] if m.group(1) else int(m.group(2)))
        pos = m.end()
    if pos < len(s):
        out.append(s[pos:])
    for p in out:
        if isinstance(p, str) and (fmt.prefix in p or _LEFTOVER.search(p)):
            raise PartsError(f"unexpected marker left in a fragment near {p[max(0, p.find('%%NL_')):][:40]!r}")
    return out


def _cards(entries: list[str], fmt: _Format) -> tuple[list[list[Piece]], list[Piece]]:
    """Each card cut at its feedback block (one block, the same in every card, kept once)."""
    cards, block = [], None
    for e in entries:
        rest, fb = _take(e, fmt, "fb", None, slot("FEEDBACK"))
        if fb is not None:
            if block is not None and fb != block:
                raise PartsError("the feedback block differs between cards")
            block = fb
        cards.append(_pieces(rest, fmt))
    return cards, _pieces(block, fmt) if block is not None else []


def _parse(s: str, fmt: _Format, n: int) -> dict:
    """One format's skeleton, per-entry fragments and sections."""
    s, pre = _take(s, fmt, "pre", n + 1, "") if fmt is not _TEXT else (s, None)
    s, items = _take(s, fmt, "items", n, slot("ITEMS"))
    s, cards = _take(s, fmt, "cards", n, slot("CARDS"))
    s, section = _take(s, fmt, "dropped", None, slot("DROPPED"))
    if items is None or cards is None or section is None:
        raise PartsError("the render lacks the items, cards or dropped markers")
    section, dropped = _take(section, fmt, "ditems", n, slot("DITEMS"))
    if dropped is None:
        raise PartsError("the dropped section lacks its ditems markers")
    card_pieces, block = _cards(cards, fmt)
    return {"skeleton": _pieces(s, fmt), "items": [_pieces(x, fmt) for x in items], "cards": card_pieces,
            "dropped": [_pieces(x, fmt) for x in dropped], "section": _pieces(section, fmt), "feedback": block,
            "pre": pre}


def parse_parts(marked_html: str, marked_text: str, ids: list[str], *, nonce: str, urls: list[str] | None = None,
                words: dict[str, str] | None = None, max_cards: int | None = None) -> Parts:
    """Cut the marked render of an edition whose papers are `ids` (rank order) into Parts.

    `nonce` is the one the HTML markers were written with (see html_mark); `marked_text` may be ""
    (only the HTML is wanted, e.g. to measure sizes); `urls` is the text part's link table, `words`
    the count/intro/dropped-note forms with "{n}" (see Parts.words).
    PartsError when a marker is missing, repeated or out of order.
    """
    n = len(ids)
    if not re.fullmatch(r"[0-9a-f]{8,64}", nonce):
        raise PartsError("the HTML markers need a random hex nonce")
    h = _parse(marked_html, _Format(lambda name: html_mark(name, nonce), ""), n)
    t = _parse(marked_text, _TEXT, n) if marked_text else None
    pre = h["pre"] or [""] * (n + 1)
    empty: dict = {"skeleton": [], "items": [[]] * n, "cards": [[]] * n, "dropped": [[]] * n,
                   "section": [], "feedback": []}
    t = t or empty
    return Parts(
        ids=list(ids), html=h["skeleton"], text=t["skeleton"],
        items_html=dict(zip(ids, h["items"], strict=True)), cards_html=dict(zip(ids, h["cards"], strict=True)),
        dropped_html=dict(zip(ids, h["dropped"], strict=True)), items_text=dict(zip(ids, t["items"], strict=True)),
        cards_text=dict(zip(ids, t["cards"], strict=True)), dropped_text=dict(zip(ids, t["dropped"], strict=True)),
        dropped_section_html=h["section"], dropped_section_text=t["section"],
        feedback_html=h["feedback"], feedback_text=t["feedback"],
        preheaders={i: p for i, p in zip(ids, pre[:n], strict=True) if p}, preheader=pre[n],
        urls=list(urls or []), words=dict(words or {}), max_cards=max_cards,
    )
