"""Each reader's message parts as the bytes that are sent: `Parts` compiled once per edition, joined per reader.

`compile_parts` turns every literal piece into its canonical bytes (UTF-8, CRLF line ends: what
newsletter.mime.canonical makes of the whole part) and the per-recipient placeholders (%%NL_NAME%% …)
into slots, and bounds, once per edition, the longest line any recipient's part can have: the
lines of the pieces, joined in every order the skeleton allows, with every per-reader value at its
widest (`widths`: the widest name, address, unsubscribe and feedback URL of these recipients).
`assemble_wire` walks it as `assemble` does (reader.py, the same walk), fills the recipient's values
as `personalize` does, and joins: `canonical(personalize(assemble(...)))` of the same Parts, byte for
byte (tests/test_assembly.py), plus that bound when the recipient's values are within the widths.
So deliver needs no pass over ~100 KB per message to personalise, canonicalise or decide whether 8bit
(lines of at most 998 octets) is safe (bench/bench_readers.py).
"""

from __future__ import annotations

import html as _html
from dataclasses import dataclass, fields

from ..placeholders import PLACEHOLDER_RE, default_name, values
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
from .reader import Codec, Reader, known_ids

NAME, EMAIL, UNSUBSCRIBE_URL = -15, -16, -17  # slots of the compiled parts only
_PERSON = {"NAME": NAME, "EMAIL": EMAIL, "UNSUBSCRIBE_URL": UNSUBSCRIBE_URL}
# pieces that may hold a per-recipient placeholder: the skeletons and the title-only sections
_PERSONAL_OK = {"html", "text", "dropped_section_html", "dropped_section_text"}
MAX_N = 999  # papers per reader the line bounds allow for (ranks, counts, list numbers)
_REF = len("[99999]")  # a link number in the text part: a message would need 100,000 links to be wider


def _canonical(s: str) -> bytes:
    return s.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").encode("utf-8")


_SMALL: dict[str, bytes] = {}  # ranks, list numbers, link references: encoded once


def _encode(s: str) -> bytes:
    if len(s) > 8:
        return _canonical(s) if "\n" in s else s.encode("utf-8")
    b = _SMALL.get(s)
    if b is None:
        b = _canonical(s)
        if len(_SMALL) < 10_000:
            _SMALL[s] = b
    return b


def _join(out: list[bytes]) -> bytes:
    """The part's canonical bytes: joined, a final CRLF added when missing (as canonical does)."""
    last = next((x for x in reversed(out) if x), b"")
    if not last.endswith(b"\r\n"):
        out.append(b"\r\n")
    return b"".join(out)


WIRE = Codec(bytes, _encode, _join)


@dataclass
class Wire:
    """An edition's Parts compiled for delivery (see `compile_parts`)."""

    parts: Parts  # the same fields, literal pieces as canonical bytes, placeholders as slots
    default_names: tuple[str, str]  # (html, text): the greeting's name for a reader without one
    widths: dict[int, int]  # per-recipient value -> the widest the bounds assume (octets)
    lines: tuple[int | None, int | None]  # (html, text): a bound of any recipient's longest line


@dataclass
class WireParts:
    html: bytes  # canonical bytes, personalised
    text: bytes
    count: int  # papers the reader got
    html_line: int | None  # a bound of the longest line (octets); None: unknown, measure it
    text_line: int | None


def _compile(pieces: list[Piece], personal_ok: bool) -> list:
    out: list = []
    for p in pieces:
        if not isinstance(p, str):
            out.append(p)
            continue
        if "\r" in p:  # never rendered; a CR at a piece's end would join differently than in one string
            raise ValueError("a carriage return in a piece")
        for k, chunk in enumerate(PLACEHOLDER_RE.split(p)):
            if k % 2:
                if not personal_ok:
                    raise ValueError(f"%%NL_{chunk}%% in a paper's fragment")
                out.append(_PERSON[chunk])
            elif chunk:
                out.append(_canonical(chunk))
    return out


def compile_parts(parts: Parts, widths: dict[int, int] | None = None) -> Wire | None:
    """Parts ready for `assemble_wire`, made once per edition. `widths`: the widest NAME, EMAIL,
    UNSUBSCRIBE_URL and FB_UP (a feedback URL), each HTML-escaped, of the recipients (deliver's
    MessageFactory measures them); without them no line bound is known. None when a per-recipient
    placeholder sits in a paper's fragment (only a template override could put one there) or a
    piece holds a carriage return (render never writes one): deliver then assembles as str."""
    compiled: dict = {}
    try:
        for f in fields(Parts):
            v = getattr(parts, f.name)
            if f.name.endswith(("_html", "_text")) and isinstance(v, dict):
                compiled[f.name] = {k: _compile(p, False) for k, p in v.items()}
            elif f.name in _PERSONAL_OK or f.name in ("feedback_html", "feedback_text"):
                compiled[f.name] = _compile(v, f.name in _PERSONAL_OK)
            else:
                compiled[f.name] = v
    except ValueError:
        return None
    p = Parts(**compiled)
    w = _all_widths(parts, widths or {})
    lines = (_Bound(p, w, html=True).part(), _Bound(p, w, html=False).part()) if widths else (None, None)
    names = (default_name(_strings(parts.html, parts.dropped_section_html)),
             default_name(_strings(parts.text, parts.dropped_section_text)))
    return Wire(p, names, w, lines)


def _strings(*lists: list[Piece]) -> str:
    return "".join(p for pieces in lists for p in pieces if isinstance(p, str))


def _all_widths(parts: Parts, given: dict[int, int]) -> dict[int, int]:
    """Every slot's widest value in octets: the given per-recipient ones, and what this edition allows."""
    w = {RANK: len(str(MAX_N)), NUM: len(f"{MAX_N:>2}. "), **given}
    forms = [f for k, f in parts.words.items() if k.split("_")[0] in ("count", "intro", "dropped")]
    for k in (COUNT, INTRO, DROPPED_NOTE):
        w[k] = max((len(_html.escape(f, quote=False).replace("{n}", str(MAX_N)).encode()) for f in forms), default=0)
    w[PREHEADER] = max(len(x.encode()) for x in [*parts.preheaders.values(), parts.preheader])
    return w


State = tuple[int, int]  # (longest complete line so far, the open line): bounds, in octets


class _Bound:
    """The longest line any reader's part can have: the walk's pieces in every order and number the
    skeleton allows (papers in any order, the title-only section or not, feedback blocks or not),
    every value at its widest. None when a paper's fragment has no line break: fragments could then
    chain into one line of any length (each message is measured instead)."""

    def __init__(self, parts: Parts, widths: dict[int, int], html: bool) -> None:
        self.p, self.w, self.html = parts, widths, html
        self.url = max([len(u.encode()) for u in parts.urls] + [widths.get(FB_UP, 0)])  # a text link's URL

    def width(self, x: int) -> int:
        return _REF if x >= 0 else self.w.get(x, 0)

    def summary(self, xs: list) -> tuple[int, int, int, bool]:
        """(first line, last line, longest line between them, has a line break) of a fragment."""
        first = cur = inner = 0
        broken = False
        for x in xs:
            if not isinstance(x, bytes):
                cur += self.width(x)
                continue
            lines = x.split(b"\r\n")
            if len(lines) == 1:
                cur += len(x)
                continue
            if broken:
                inner = max(inner, cur + len(lines[0]))
            else:
                first, broken = cur + len(lines[0]), True
            inner = max(inner, 0, *map(len, lines[1:-1]))
            cur = len(lines[-1])
        return (first if broken else cur), cur, inner, broken

    def variants(self, xs: list, feedback: bool) -> list[list]:
        """The fragment as written without its feedback block and, when `feedback`, with it."""
        without = [x for x in xs if x != FEEDBACK]
        if not feedback or FEEDBACK not in xs:
            return [without]
        block = [y if isinstance(y, bytes) else FB_UP if self.html else 0
                 for y in (self.p.feedback_html if self.html else self.p.feedback_text)]
        return [without, [y for x in xs for y in (block if x == FEEDBACK else [x])]]

    def region(self, kind: str, feedback: bool, state: State) -> State | None:
        frags = [self.summary(v) for f in getattr(self.p, kind).values() for v in self.variants(f, feedback)]
        if not frags:
            return state
        if not all(f[3] for f in frags):
            return None
        first, last, inner = (max(f[i] for f in frags) for i in range(3))
        return _most(state, (max(state[0], state[1] + first, inner, last + first), last))

    def walk(self, xs: list, state: State | None) -> State | None:
        html = self.html
        for x in xs:
            if state is None:
                return None
            if isinstance(x, bytes):
                lines = x.split(b"\r\n")
                state = ((state[0], state[1] + len(x)) if len(lines) == 1 else
                         (max(state[0], state[1] + len(lines[0]), 0, *map(len, lines[1:-1])), len(lines[-1])))
            elif x == ITEMS:
                state = self.region("items_html" if html else "items_text", not html, state)
            elif x == CARDS:
                state = self.region("cards_html" if html else "cards_text", True, state)
            elif x == DITEMS:
                state = self.region("dropped_html" if html else "dropped_text", False, state)
            elif x == DROPPED:
                section = self.p.dropped_section_html if html else self.p.dropped_section_text
                state = _most(state, self.walk(section, state))
            elif x == LINKS and not html:  # "\n\nLinks:" and a line per link, or nothing
                line = self.url + _REF + 1
                state = _most(state, (max(state[0], state[1], len("Links:"), line), line))
            elif x not in (FEEDBACK, ITEMS, CARDS, DROPPED, DITEMS, LINKS):
                state = (state[0], state[1] + self.width(x))
        return state

    def part(self) -> int | None:
        end = self.walk(self.p.html if self.html else self.p.text, (0, 0))
        return None if end is None else max(end)


def _most(a: State | None, b: State | None) -> State | None:
    return None if a is None or b is None else (max(a[0], b[0]), max(a[1], b[1]))


def assemble_wire(wire: Wire, paper_ids: list[str], feedback: Feedback | None = None, *, name: str,
                  unsubscribe_url: str, email: str = "") -> WireParts:
    """One recipient's HTML and text as canonical bytes: `canonical(personalize(assemble(...)))` of the
    same Parts, by one walk and a join; with the edition's line bounds when their values fit them."""
    ids = known_ids(wire.parts, paper_ids)
    person = []
    for html, default in zip((True, False), wire.default_names, strict=True):
        v = values(name=name, unsubscribe_url=unsubscribe_url, email=email, html=html, default=default)
        person.append({_PERSON[k]: x.encode("utf-8") for k, x in v.items()})
    r = Reader(wire.parts, ids, feedback, WIRE, (person[0], person[1]))
    w = wire.widths
    fb = [len(u) for pair in r.fb_html.values() for u in pair]
    fits = len(ids) <= MAX_N and max(fb, default=0) <= w.get(FB_UP, -1) and all(
        len(v) <= w.get(k, -1) for k, v in person[0].items())
    html_line, text_line = wire.lines if fits else (None, None)
    return WireParts(r.html(), r.text(), len(ids), html_line, text_line)
