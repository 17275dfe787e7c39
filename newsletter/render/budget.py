"""The size budget of an edition's email, for every reader: the search `render_email` runs.

It knows no template: `render(allowance, dropping)` (newsletter/render/email.py) makes one
attempt. Every attempt is ONE render (MJML + premailer) of the whole edition with markers; the readers
are then assembled from it (newsletter.assembly), never rendered. The worst reader has
`reader_max` papers: the heaviest card fragments, with feedback URLs as long as a real reader's
can be. Analyses are first cut to the reading allowance (the phone-length design); only when the
worst reader still does not fit is the allowance lowered by bisection, on real renders; if even
key findings alone do not fit, readers get at most `max_cards` full cards and the rest as
titles (found by assembling, without rendering again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..assembly import Feedback, Parts, assemble
from ..mime import qp_block

# one render at (allowance, dropping) -> (what was rendered, its Parts)
Render = Callable[[int | None, bool], tuple[Any, Parts]]


@dataclass
class Attempt:
    allowance: int | None
    marked: Any  # render's own record of it (newsletter.render.email.Marked)
    parts: Parts
    worst: int  # bytes on the wire of the biggest issue a reader can get from it
    dropping: bool  # rendered for readers who get title-only items


class Budget:
    """The size search of one edition: every attempt is one render; readers are assembled, not rendered.

    The worst reader has `k` (= reader_max) papers: the largest card fragments (two candidate
    sets: by UTF-8 bytes, which base64 follows, and by quoted-printable size), with feedback
    URLs as long as a real reader's can be. Without per-reader selection (reader_max None)
    everyone gets the whole edition, so that is measured exactly, as before.
    """

    def __init__(self, render: Render, n: int, reader_max: int | None, limit: int, size_of: Callable[[str], int],
                 feedback: Feedback | None):
        self.render, self.n, self.limit, self.size_of, self.renders = render, n, limit, size_of, 0
        self.personal = reader_max is not None
        self.k = n if reader_max is None else max(0, min(reader_max, n))
        self.feedback = feedback if self.personal else None
        self.weights: dict[int, tuple[Parts, list[dict]]] = {}  # id(parts) -> what its fragments weigh

    def attempt(self, allowance: int | None, dropping: bool = False) -> Attempt:
        dropping = dropping or self.k < self.n
        marked, parts = self.render(allowance, dropping)
        self.renders += 1
        parts.max_cards = self.k if self.k < self.n else None  # a reader with more gets the rest as titles
        return Attempt(allowance, marked, parts, self.worst(parts), dropping)

    def worst(self, parts: Parts) -> int:
        if not self.personal:
            return self.size_of(assemble(parts, parts.ids).html)
        if id(parts) not in self.weights:  # fewer_cards asks again with other max_cards: weigh once
            self.weights[id(parts)] = (parts, fragment_weights(parts))
        readers = worst_readers(parts, self.k, self.weights[id(parts)][1])
        sizes = [self.size_of(assemble(parts, ids, self.feedback).html) for ids in readers]
        longest = max((len(p.encode()) for p in parts.preheaders.values()), default=0)
        return max(sizes) + int(longest * 1.4) + 4  # any paper's preview line may head a reader's issue

    def fits(self, a: Attempt) -> bool:
        return a.worst <= self.limit

    def fewer_cards(self, a: Attempt) -> Attempt:
        """Even key findings alone are too big: the most full cards that fit, the rest title-only."""
        if not a.dropping:
            a = self.attempt(a.allowance, dropping=True)
        lo, hi = 0, self.k
        while lo < hi:
            mid = (lo + hi + 1) // 2
            a.parts.max_cards = mid
            if self.worst(a.parts) <= self.limit:
                lo = mid
            else:
                hi = mid - 1
        a.parts.max_cards = lo
        a.worst = self.worst(a.parts)
        return a


def fragment_weights(parts: Parts) -> list[dict]:
    """Per measure (UTF-8 bytes, quoted-printable size): kind ("cards", "dropped") -> paper id -> the
    weight of its list item and that fragment."""
    out = []
    for weigh in (lambda b: len(b), lambda b: len(qp_block(b))):
        out.append({kind: {p: weigh((parts.fragment("items", p) + parts.fragment(kind, p)).encode())
                           for p in parts.ids} for kind in ("cards", "dropped")})
    return out


def worst_readers(parts: Parts, k: int, weights: list[dict] | None = None) -> list[list[str]]:
    """The k papers whose fragments weigh most (cards first, then title-only items), by UTF-8
    bytes and by quoted-printable size: the biggest issue any reader of k papers can get."""
    return [_heaviest(parts, k, w) for w in (weights or fragment_weights(parts))]


def _heaviest(parts: Parts, k: int, weights: dict) -> list[str]:
    m = k if parts.max_cards is None else min(k, parts.max_cards)
    carded = sorted(parts.ids, key=lambda p: -weights["cards"][p])[:m]
    rest = sorted((p for p in parts.ids if p not in carded), key=lambda p: -weights["dropped"][p])
    return carded + rest[: k - m]


def search(b: Budget, reading: int | None, longest: int) -> Attempt:
    """The attempt to keep: `reading` when the worst reader fits; else the largest allowance that
    does, by bisection over real renders (`longest`: the longest analysis); else allowance 0 with
    fewer full cards."""
    best = b.attempt(reading)
    if b.fits(best):
        return best
    if reading is not None:
        longest = min(longest, reading)
    best = b.attempt(0)
    if not b.fits(best):
        return b.fewer_cards(best)
    lo, hi = 0, longest
    while hi - lo > max(200, longest // 64) and b.renders < 12:
        mid = (lo + hi) // 2
        a = b.attempt(mid)
        if b.fits(a):
            best, lo = a, mid
        else:
            hi = mid
    return best
