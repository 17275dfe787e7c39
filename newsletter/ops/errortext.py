"""Errors in one readable line: shortened at a sentence or word boundary with every parenthesis
closed (`shorten`), and the wrapped urllib3/requests/socket errors read as what happened
("cannot resolve host X", "connection refused by X:N", "timed out") (`explain`).
"""

from __future__ import annotations

import re
import socket
import ssl

MAX_DETAIL = 300
_HOST_PORT = re.compile(r"host='([^']+)', port=(\d+)")
_RESOLVE = ("Failed to resolve", "Name or service not known", "nodename nor servname",
            "Temporary failure in name resolution", "No address associated with hostname", "getaddrinfo failed")


def _chain(e: BaseException, limit: int = 12) -> list[BaseException]:
    """The exception and what it wraps (args[0], .reason, __cause__, __context__), bounded."""
    out: list[BaseException] = []
    todo: list[BaseException] = [e]
    while todo and len(out) < limit:
        x = todo.pop(0)
        if any(x is y for y in out):
            continue
        out.append(x)
        for nxt in (x.args[0] if x.args else None, getattr(x, "reason", None), x.__cause__, x.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return out


def _balanced(text: str) -> bool:
    return text.count("(") == text.count(")") and text.count("[") == text.count("]")


def shorten(text: str, limit: int = MAX_DETAIL) -> str:
    """The first line of a message, whole when it fits; else cut at the last sentence, clause or
    word boundary where every parenthesis is closed, marked with "…". Never "(Caused by Name"."""
    line = " ".join(next((ln for ln in str(text).splitlines() if ln.strip()), "").split())
    if len(line) <= limit and _balanced(line):
        return line
    cuts = [m.start() + 1 for m in re.finditer(r"[.;:,](?=\s)", line[: limit + 1])]  # after a clause
    cuts += [m.start() for m in re.finditer(r"\s\(", line[: limit + 1])]  # before a parenthesis
    cuts += [m.start() for m in re.finditer(r"\s", line[: limit + 1])]  # between words
    for i in sorted(set(cuts), reverse=True):
        head = line[:i].rstrip(" ,;:")
        if head and _balanced(head):
            return head + " …"
    head = line.split("(")[0].split("[")[0].strip()[:limit].rstrip(" ,;:")
    return (head + " …") if head else "(no message)"


def explain(e: BaseException, where: str = "") -> str:
    """What went wrong, in words a person can act on; urllib3/requests/socket noise is reduced
    to "cannot resolve host X", "connection refused by X:N", "timed out", "certificate not trusted".
    Secrets (env values) are masked."""
    from .logs import mask

    chain = _chain(e)
    text = " ".join(str(x) for x in chain)
    host, port = "", ""
    for x in chain:
        pool = getattr(x, "pool", None)
        if getattr(pool, "host", None):
            host, port = str(pool.host), str(getattr(pool, "port", "") or "")
            break
    if not host and (m := _HOST_PORT.search(text)):
        host, port = m.group(1), m.group(2)
    target = where or (f"{host}:{port}" if host and port else host)
    if any(isinstance(x, socket.gaierror) for x in chain) or any(s in text for s in _RESOLVE):
        name = host or where.rsplit(":", 1)[0] or "the server"
        return mask(f"cannot resolve host {name} (no DNS answer: check the name and the network)")
    if any(isinstance(x, ConnectionRefusedError) for x in chain) or "Connection refused" in text:
        return mask(f"connection refused{f' by {target}' if target else ''} (nothing listens there)")
    if any(isinstance(x, ssl.SSLCertVerificationError) for x in chain) or "CERTIFICATE_VERIFY_FAILED" in text:
        why = next((x.verify_message for x in chain if isinstance(x, ssl.SSLCertVerificationError)), "")
        return mask(f"certificate not trusted{f' ({why})' if why else ''}")
    if any(isinstance(x, TimeoutError | socket.timeout) for x in chain) or re.search(r"timed? ?out", text, re.I):
        return mask(f"timed out{f' talking to {target}' if target else ''}")
    if isinstance(e, ConnectionResetError) or "Connection reset" in text:
        return mask(f"connection reset{f' by {target}' if target else ''}")
    return mask(f"{type(e).__name__}: {shorten(str(e))}" if str(e).strip() else type(e).__name__)
