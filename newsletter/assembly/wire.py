"""Each reader's message parts as the bytes that are sent: `Parts` compiled once per edition, joined per reader.

`compile_parts` turns every literal piece into its canonical bytes (UTF-8, CRLF line ends: what
newsletter.mime.canonical makes of the whole part) with the lengths of its first, last and longest
inner line, and the per-recipient placeholders (%%NL_NAME%% …) into slots. `assemble_wire` walks it
as `assemble` does, fills the recipient's values as `personalize` does, and returns each part's
canonical bytes and its longest line: deliver then sends them without another pass over ~100 KB per
message to encode, personalise or decide whether 8bit is safe (bench/bench_readers.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..placeholders import PLACEHOLDER_RE, default_name, values
from .parts import Feedback, Parts, Piece
from .reader import Codec, Reader, known_ids

NAME, EMAIL, UNSUBSCRIBE_URL = -15, -16, -17  # slots of the compiled parts only
_PERSON = {"NAME": NAME, "EMAIL": EMAIL, "UNSUBSCRIBE_URL": UNSUBSCRIBE_URL}
# pieces that may hold a per-recipient placeholder: the skeletons and the title-only sections
_PERSONAL_OK = {"html", "text", "dropped_section_html", "dropped_section_text"}

Literal = tuple[bytes, int, int, int]  # bytes, first line's length (-1: no line break), last line's, longest inner


def literal(s: str) -> Literal:
    """A piece as canonical bytes with its line lengths (octets, CRLF not counted)."""
    b = s.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").encode("utf-8")
    first = b.find(b"\r\n")
    if first < 0:
        return b, -1, len(b), 0
    lines = b.split(b"\r\n")
    return b, first, len(lines[-1]), max(map(len, lines[1:-1]), default=0)


_SMALL: dict[str, bytes] = {}  # ranks, list numbers, link references: encoded once


def _encode(s: str) -> bytes | Literal:
    """A value made per reader: bytes, or a `Literal` when it holds a line break (the text part's links)."""
    if len(s) > 8:
        return literal(s) if "\n" in s else s.encode("utf-8")
    b = _SMALL.get(s)
    if b is None:
        if "\n" in s:
            return literal(s)
        b = s.encode("utf-8")
        if len(_SMALL) < 10_000:
            _SMALL[s] = b
    return b


def _join(out: list) -> tuple[bytes, int]:
    """The pieces written as canonical bytes (a final CRLF added when missing) and the longest line.
    Per reader and part: written out, it runs for every piece of every message."""
    chunks: list[bytes] = []
    add = chunks.append
    cur = best = 0
    broken = False  # a line break was written
    for x in out:
        if x.__class__ is not tuple:  # a value without line breaks (see _encode)
            cur += len(x)
            add(x)
            continue
        b, first, last, inner = x
        if first < 0:
            cur += last
        else:
            if cur + first > best:
                best = cur + first
            if inner > best:
                best = inner
            cur, broken = last, True
        add(b)
    if cur > best:
        best = cur
    if cur or not broken:  # not ending with a line break: canonical adds one
        add(b"\r\n")
    return b"".join(chunks), best


WIRE = Codec(tuple, _encode, _join)


@dataclass
class Wire:
    """An edition's Parts compiled for delivery (see `compile_parts`)."""

    parts: Parts  # the same fields, literal pieces as `Literal`s, placeholders as slots
    default_names: tuple[str, str]  # (html, text): the greeting's name for a reader without one


@dataclass
class WireParts:
    html: bytes  # canonical bytes, personalised
    text: bytes
    count: int  # papers the reader got
    html_line: int  # the longest line of each, in octets
    text_line: int


def _compile(pieces: list[Piece], personal_ok: bool) -> list:
    out: list = []
    for p in pieces:
        if p.__class__ is not str:
            out.append(p)
            continue
        if "\r" in p:  # never rendered; a CR at a piece's end would join differently than in one string
            raise ValueError("a carriage return in a piece")
        for k, chunk in enumerate(PLACEHOLDER_RE.split(p)):  # type: ignore[arg-type]
            if k % 2:
                if not personal_ok:
                    raise ValueError(f"%%NL_{chunk}%% in a paper's fragment")
                out.append(_PERSON[chunk])
            elif chunk:
                out.append(literal(chunk))
    return out


def compile_parts(parts: Parts) -> Wire | None:
    """Parts ready for `assemble_wire`, made once per edition; None when a per-recipient placeholder sits
    in a paper's fragment (only a template override could put one there) or a piece holds a carriage
    return (render never writes one): deliver then assembles and personalises the str way."""
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
    names = (default_name(_strings(parts.html, parts.dropped_section_html)),
             default_name(_strings(parts.text, parts.dropped_section_text)))
    return Wire(Parts(**compiled), names)


def _strings(*lists: list[Piece]) -> str:
    return "".join(p for pieces in lists for p in pieces if isinstance(p, str))


def assemble_wire(wire: Wire, paper_ids: list[str], feedback: Feedback | None = None, *, name: str,
                  unsubscribe_url: str, email: str = "") -> WireParts:
    """One recipient's HTML and text as canonical bytes: `canonical(personalize(assemble(...)))` of the
    same Parts, by one walk and a join."""
    ids = known_ids(wire.parts, paper_ids)
    person = []
    for html, default in zip((True, False), wire.default_names, strict=True):
        v = values(name=name, unsubscribe_url=unsubscribe_url, email=email, html=html, default=default)
        person.append({_PERSON[k]: _encode(x) for k, x in v.items()})
    r = Reader(wire.parts, ids, feedback, WIRE, (person[0], person[1]))
    (html, html_line), (text, text_line) = r.html(), r.text()
    return WireParts(html, text, len(ids), html_line, text_line)
