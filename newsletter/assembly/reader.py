"""One reader's issue joined from `Parts`: their papers, ranks, counts, feedback links and link numbers.

`Reader` walks the skeleton once per part. It writes through a `Codec`: `STR` (the pieces are str,
as parsed) for `assemble`; newsletter/assembly/wire.py passes compiled pieces (canonical bytes) and
the per-recipient values, so deliver gets the bytes it sends from the same walk.
"""

from __future__ import annotations

import html as _html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .parts import (
    CARDS,
    COUNT,
    DITEMS,
    DROPPED,
    DROPPED_NOTE,
    FB_UP,
    FEEDBACK,
    INTRO,
    ITEMS,
    LINKS,
    NUM,
    PREHEADER,
    RANK,
    Feedback,
    Parts,
    Piece,
)


@dataclass
class Assembled:
    html: str
    text: str
    count: int  # papers the reader got (unknown ids skipped)


_REFS = [f"[{n}]" for n in range(200)]
_NUMS = [f"{n:>2}. " for n in range(200)]
ESCAPE = re.compile(r"[&<>\"']")  # what HTML escaping would change


@dataclass(frozen=True)
class Codec:
    """How a walk writes: literal pieces are of type `lit` and copied; values made per reader (ranks,
    counts, link numbers, URLs) go through `enc`; `join` makes the part from the pieces written."""

    lit: type
    enc: Callable[[str], Any]
    join: Callable[[list], Any]

    def __post_init__(self) -> None:  # "[n]", "n" and " n. " for the first 200 n, encoded once
        for name, table in (("refs", _REFS), ("ranks", [str(n) for n in range(200)]), ("nums", _NUMS)):
            object.__setattr__(self, name, [self.enc(x) for x in table])


STR = Codec(str, str, "".join)


def _n_words(words: dict[str, str], key: str, n: int) -> str:
    if n == 0 and f"{key}_zero" in words:
        return words[f"{key}_zero"]
    form = words.get(f"{key}_one", words.get(key, "")) if n == 1 else words.get(key, "")
    return form.replace("{n}", str(n))


class Reader:
    """One reader's assembly: their papers, which get cards, their feedback URLs, link numbers.

    `html` and `text` walk the skeleton once; the loops are written out (no dispatch per piece)
    because they run per reader: ~100 pieces for ten papers. `values` (html, text): more slot
    values, already encoded (the per-recipient ones, in the skeleton and the title-only section)."""

    def __init__(self, parts: Parts, ids: list[str], feedback: Feedback | None, codec: Codec = STR,
                 values: tuple[dict, dict] = ({}, {})):
        self.parts, self.ids, self.codec = parts, ids, codec
        m = len(ids) if parts.max_cards is None else min(len(ids), parts.max_cards)
        self.carded, self.dropped = ids[:m], ids[m:]
        self.fb: dict[str, tuple[str, str]] = {}  # paper -> its (more, less) URLs, as the text part lists them
        self.fb_html: dict[str, tuple] = {}  # the same, HTML-escaped and encoded, as the cards link them
        w, enc = parts.words, codec.enc
        if feedback is not None and parts.feedback_html:
            for p in self.carded:
                up, down = feedback(p, 1), feedback(p, -1)
                if up and down:
                    self.fb[p] = (up, down)
                    self.fb_html[p] = (enc(_html.escape(up, quote=True) if ESCAPE.search(up) else up),
                                       enc(_html.escape(down, quote=True) if ESCAPE.search(down) else down))
        words = {COUNT: _n_words(w, "count", len(ids)), INTRO: _n_words(w, "intro", len(ids)),
                 DROPPED_NOTE: _n_words(w, "dropped", len(self.dropped))}
        self.html_words = {**{k: enc(_html.escape(v, quote=False)) for k, v in words.items()}, **values[0]}
        self.words = {**{k: enc(v) for k, v in words.items()}, **values[1]}

    def html(self) -> Any:
        p, enc, lit = self.parts, self.codec.enc, self.codec.lit
        out: list = []
        words = self.html_words
        for x in p.html:
            if x.__class__ is lit:
                out.append(x)
            elif x == ITEMS:
                for i in self.ids:
                    out += p.items_html[i]  # no slots: the <ol> numbers itself
            elif x == CARDS:
                for rank, i in enumerate(self.carded, start=1):
                    self._card_html(p.cards_html[i], i, rank, out)
            elif x == DROPPED and self.dropped:
                for y in p.dropped_section_html:
                    if y.__class__ is lit:
                        out.append(y)
                    elif y == DITEMS:
                        for i in self.dropped:
                            out += p.dropped_html[i]
                    elif y in words:
                        out.append(words[y])
            elif x == PREHEADER:
                out.append(enc(next((p.preheaders[i] for i in self.ids if i in p.preheaders), p.preheader)))
            elif x in words:
                out.append(words[x])
        return self.codec.join(out)

    def _card_html(self, pieces: list[Piece], paper: str, rank: int, out: list) -> None:
        lit, enc = self.codec.lit, self.codec.enc
        for y in pieces:
            if y.__class__ is lit:
                out.append(y)
            elif y == RANK:
                out.append(self.codec.ranks[rank] if rank < 200 else enc(str(rank)))
            elif y == FEEDBACK and paper in self.fb_html:
                up, down = self.fb_html[paper]
                for z in self.parts.feedback_html:
                    out.append(z if z.__class__ is lit else up if z == FB_UP else down)

    def text(self) -> Any:
        p, enc, lit = self.parts, self.codec.enc, self.codec.lit
        out: list = []
        links: dict[str, int] = {}
        for x in p.text:
            if x.__class__ is lit:
                out.append(x)
            elif x >= 0:
                out.append(enc(_ref(links, p.urls[x])))
            elif x == ITEMS:
                for n, i in enumerate(self.ids, start=1):
                    self._text(p.items_text[i], i, n, links, out)
            elif x == CARDS:
                for n, i in enumerate(self.carded, start=1):
                    self._text(p.cards_text[i], i, n, links, out)
            elif x == DROPPED and self.dropped:
                for y in p.dropped_section_text:
                    if y == DITEMS:
                        for n, i in enumerate(self.dropped, start=1):
                            self._text(p.dropped_text[i], i, n, links, out)
                    else:
                        self._text([y], "", 0, links, out)
            elif x == LINKS and links:
                out.append(enc("\n\nLinks:" + "".join(f"\n[{n}] {u}" for u, n in links.items())))
            elif x in self.words:
                out.append(self.words[x])
        return self.codec.join(out)

    def _text(self, pieces: list[Piece], paper: str, n: int, links: dict[str, int], out: list) -> None:
        urls, add, lit, enc, refs = self.parts.urls, out.append, self.codec.lit, self.codec.enc, self.codec.refs
        for y in pieces:
            if y.__class__ is lit:
                add(y)
            elif y >= 0:  # a link: the reader's number for it (inlined _ref)
                u = urls[y]
                k = links.get(u)
                if k is None:
                    k = links[u] = len(links) + 1
                add(refs[k] if k < 200 else enc(f"[{k}]"))
            elif y == RANK:
                add(self.codec.ranks[n] if n < 200 else enc(str(n)))
            elif y == NUM:
                add(self.codec.nums[n] if n < 200 else enc(f"{n:>2}. "))
            elif y == FEEDBACK and paper in self.fb:
                up, down = self.fb[paper]
                for z in self.parts.feedback_text:
                    add(z if z.__class__ is lit else enc(_ref(links, up if z == FB_UP else down)))
            elif y in self.words:
                add(self.words[y])


def _ref(links: dict[str, int], url: str) -> str:
    """"[n]": the reader's number of `url`, given by first appearance."""
    n = links.get(url)
    if n is None:
        n = links[url] = len(links) + 1
    return _REFS[n] if n < 200 else f"[{n}]"


def known_ids(parts: Parts, paper_ids: list[str]) -> list[str]:
    """The reader's papers the edition has, each once, in their order."""
    known = parts.cards_html
    return [p for p in dict.fromkeys(paper_ids) if p in known]


def assemble(parts: Parts, paper_ids: list[str], feedback: Feedback | None = None) -> Assembled:
    """One reader's HTML and text: their papers in their order, ranked #1..#n.

    Unknown and repeated ids are skipped. The first `parts.max_cards` papers get cards, the rest
    title-only items (that section only when there are some). `feedback(paper_id, vote)` gives the
    reader's "more like this" (+1) / "less like this" (-1) URL; None leaves the links out.
    """
    r = Reader(parts, known_ids(parts, paper_ids), feedback)
    return Assembled(html=r.html(), text=r.text(), count=len(r.ids))


def worst_feedback(public_url: str, token_chars: int) -> Feedback:
    """Feedback URLs as long as a real reader's can be: what render measures the budget with."""
    base = f"{public_url.rstrip('/')}/feedback/"
    return lambda paper_id, vote: base + "x" * token_chars
