"""What stands between the network and the public site, as WSGI middleware (`guard(app, ...)`):

- the client: REMOTE_ADDR, or, from a configured proxy only, the address in X-Forwarded-For and the
  scheme in X-Forwarded-Proto; from anyone else these headers are removed before the app sees them;
- refusals before the app runs: a request line over MAX_URI (414), a path that is not UTF-8 or holds
  control characters (400), more than `per_client` requests of one client in the app at once (429);
- no traceback ever reaches a client: an unexpected error is logged (with its traceback, as a bug)
  and answered 500; a database busy past its timeout is 503 with Retry-After;
- HEAD never carries a body;
- one access-log line per request (access.py: routes only, no token, no address).

The server (serving.py) refuses before this: a header block over its limit (431), a body over its
limit (413, unread), malformed requests (400), too many connections from one address.
"""

from __future__ import annotations

import ipaddress
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable

from .access import AccessLog
from .pages import page

log = logging.getLogger(__name__)

MAX_URI = 4096  # a genuine link is under 300 characters
_FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT",
              "HTTP_FORWARDED", "HTTP_X_REAL_IP")
_CONTROL = {chr(c) for c in range(32)} | {"\x7f"}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(items: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(i, strict=False) for i in items)


def trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    if not proxies:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def resolve_client(environ: dict, proxies: tuple[Network, ...]) -> str:
    """The client's address; sets wsgi.url_scheme from a trusted proxy and strips forwarding headers.

    X-Forwarded-For is read from the right: each trusted proxy appended the address it saw, so the
    first address from the right that is not a trusted proxy is the client (anything left of it was
    written by the client and proves nothing)."""
    peer = environ.get("REMOTE_ADDR") or ""
    client = peer
    if trusted(peer, proxies):
        for hop in reversed([h.strip() for h in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]):
            client = hop
            if not trusted(hop, proxies):
                break
        proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
        if proto in ("http", "https"):
            environ["wsgi.url_scheme"] = proto
    for key in _FORWARDED:
        environ.pop(key, None)
    environ["REMOTE_ADDR"] = client
    return client


def _refusal(status: str, title: str, text: str, extra: list | None = None) -> tuple[str, list, bytes]:
    body = page(title, f"<p>{text}</p>").encode()
    return status, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"), *(extra or [])], body


def precheck(environ: dict) -> tuple[str, list, bytes] | None:
    """A refusal for a request no route should see, or None."""
    path = environ.get("PATH_INFO") or "/"
    uri = environ.get("REQUEST_URI") or path + "?" + environ.get("QUERY_STRING", "")
    if len(uri) > MAX_URI:
        return _refusal("414 URI Too Long", "Too long", "This address is too long to be one of ours.")
    try:
        decoded = path.encode("latin-1").decode("utf-8")  # WSGI gives the path's bytes as latin-1
    except (UnicodeEncodeError, UnicodeDecodeError):
        return _refusal("400 Bad Request", "Bad request", "This address is not valid.")
    if _CONTROL.intersection(decoded) or _CONTROL.intersection(environ.get("QUERY_STRING", "")):
        return _refusal("400 Bad Request", "Bad request", "This address is not valid.")
    return None


class Gate:
    """At most `limit` requests of one client in the app at once (a client beyond it gets 429)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._lock = threading.Lock()
        self._inside: Counter[str] = Counter()

    def enter(self, client: str) -> bool:
        with self._lock:
            if self._inside[client] >= self.limit:
                return False
            self._inside[client] += 1
            return True

    def leave(self, client: str) -> None:
        with self._lock:
            self._inside[client] -= 1
            if self._inside[client] <= 0:
                del self._inside[client]


def guard(app: Callable, access: AccessLog, proxies: Iterable[str] = (), per_client: int = 4) -> Callable:
    """The public app behind the checks above; every request gets exactly one access-log line."""
    nets = networks(proxies)
    gate = Gate(per_client)

    def guarded(environ, start_response):
        started = time.perf_counter()
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO") or "/"
        client = resolve_client(environ, nets)
        answer = precheck(environ)
        # a trusted proxy that names no client stands for many of them: it is not held to one's share
        limited = not trusted(client, nets)
        entered = answer is None and (not limited or gate.enter(client))
        if answer is None and not entered:
            answer = _refusal("429 Too Many Requests", "Too many requests",
                              "Too many requests at once; please try again in a moment.", [("Retry-After", "1")])
        if answer is None:
            try:
                answer = _call(app, environ)
            finally:
                if limited:
                    gate.leave(client)
        status, headers, body = answer
        if method == "HEAD":
            body = b""
        start_response(status, headers)
        access.request(method, path, status, len(body), time.perf_counter() - started)
        return [body]

    return guarded


def _call(app: Callable, environ: dict) -> tuple[str, list, bytes]:
    """Run the app to completion: (status, headers, body); errors become 503 / 500 pages."""
    captured: list = []

    def start_response(status, headers, exc_info=None):
        captured[:] = [status, list(headers)]

    try:
        body = b"".join(app(environ, start_response))
    except sqlite3.OperationalError as e:
        log.warning("store busy, answered 503: %s", e)
        return _refusal("503 Service Unavailable", "Busy", "Please try again in a moment.", [("Retry-After", "2")])
    except Exception:
        log.exception("unexpected error in the public site; answered 500")
        return _refusal("500 Internal Server Error", "Error", "Something went wrong on our side.")
    return captured[0], captured[1], body
