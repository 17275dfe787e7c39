"""Content-Transfer-Encodings measured and applied: the size of a MIME part as it travels.

A part's size on the wire is what Gmail counts when it clips (~100 KB), not its decoded size:
CJK text in UTF-8 grows by a third in base64 and almost threefold in quoted-printable, while
mostly-ASCII HTML is smaller in quoted-printable. Render budgets the HTML part by
`wire_size(data)` (the smaller of quoted-printable and base64: what is sent when the server does
not announce 8BITMIME, the worst safe case); deliver encodes each part with `best_cte`.

`data` is always the part's canonical bytes: UTF-8 with CRLF line ends and a final CRLF.
"""

from __future__ import annotations

import base64
import binascii

MAX_LINE = 998  # octets per line before CRLF (RFC 5322): 8bit is unsafe past it
CTES = ("7bit", "8bit", "quoted-printable", "base64")


def canonical(text: str) -> bytes:
    """UTF-8 with CRLF line ends and a final one: MIME's canonical text form."""
    return b"\r\n".join(text.encode("utf-8").splitlines()) + b"\r\n"


def _lines_fit(data: bytes, longest: int | None = None) -> bool:
    if longest is None:
        longest = max(map(len, data.split(b"\r\n")))
    return longest <= MAX_LINE and b"\0" not in data


_HIGH = bytes(range(128, 256))


def base64_block(data: bytes) -> bytes:
    """Base64 in 76-character CRLF lines, as the email package writes it."""
    b64 = base64.b64encode(data)
    return b"".join([b64[i : i + 76] + b"\r\n" for i in range(0, len(b64), 76)])


def base64_size(n: int) -> int:
    """Bytes of `base64_block` for `n` bytes of data, without encoding them."""
    chars = (n + 2) // 3 * 4
    return chars + 2 * ((chars + 75) // 76)


def qp_block(data: bytes) -> bytes:
    """Quoted-printable (RFC 2045: lines of at most 76 characters, CRLF ends; C codec)."""
    out = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    if not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out


def encoded_size(data: bytes) -> dict[str, int]:
    """Bytes on the wire for each encoding that is safe for `data` (7bit/8bit only when they are)."""
    sizes = {"quoted-printable": len(qp_block(data)), "base64": base64_size(len(data))}
    if _lines_fit(data):
        sizes["8bit"] = len(data)
        if data.isascii():
            sizes["7bit"] = len(data)
    return sizes


def wire_size(data: bytes) -> int:
    """The size as sent to a server without 8BITMIME: the smaller of quoted-printable and base64."""
    sizes = encoded_size(data)
    return sizes.get("7bit") or min(sizes["quoted-printable"], sizes["base64"])


def best_cte(data: bytes, eightbit: bool) -> str:
    """The smallest safe encoding: 7bit for short-lined ASCII, 8bit when the server announced
    8BITMIME and no line is over 998 octets, else the smaller of quoted-printable and base64."""
    return encode(data, eightbit)[0]


def encode(data: bytes, eightbit: bool, longest: int | None = None) -> tuple[str, bytes]:
    """(`best_cte`, the part's body in it): what deliver splices into a message. `longest`: the
    longest line of `data` when the caller knows it (newsletter.assembly.assemble_wire does)."""
    if (eightbit or data.isascii()) and _lines_fit(data, longest):
        return ("7bit" if data.isascii() else "8bit"), data
    b64 = base64_size(len(data))
    if len(data) + 2 * (len(data) - len(data.translate(None, _HIGH))) > b64:
        return "base64", base64_block(data)  # quoted-printable writes each byte >= 0x80 as "=XX": longer
    qp = qp_block(data)
    if len(qp) <= b64:
        return "quoted-printable", qp
    return "base64", base64_block(data)
