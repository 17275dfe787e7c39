"""The access log of `newsletter serve`: one line per request (or per connection refused or cut),
with no token and no address in it, since tokens identify readers.

    2026-02-09T01:30:00Z GET /feedback/<token> 200 1843B 2.1ms
    2026-02-09T01:30:01Z POST /unsubscribe 200 512B 4.0ms
    2026-02-09T01:30:02Z GET /archive/2026-02-09/cv.html 304 0B 0.3ms
    2026-02-09T01:30:03Z - <connection> closed: request incomplete after 15 s

A path is written as its route, never as sent: a token becomes `<token>`, the query is dropped,
and anything that is not one of our routes is `<other>`. The log is its own rotating file
(`[web] access_log`, 10 MB x 5), so a click burst never pushes the pipeline's story out of
var/logs/newsletter.log; "-" writes to standard output (the journal under systemd), "" nowhere.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import time
from pathlib import Path

from ..render.archive import ARCHIVE_PATH

METHODS = frozenset({"GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "PATCH", "TRACE", "CONNECT"})
_FEEDBACK = re.compile(r"/feedback/[^/]*")


class UTCFormatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", self.converter(record.created))


def route_of(path: str) -> str:
    """The route a path names, safe to log: no token, no query, nothing a client chose freely."""
    if path in ("/", "/unsubscribe", "*"):
        return path
    if _FEEDBACK.fullmatch(path):
        return "/feedback/<token>"
    if ARCHIVE_PATH.fullmatch(path):
        return path
    return "<other>"


def method_of(method: str) -> str:
    return method if method in METHODS else "<other>"


class AccessLog:
    """Where the lines go: a rotating file, standard output, or nowhere. One logger per server (not
    in logging's tree), so two servers in one process never write each other's lines."""

    def __init__(self, target: str | Path | None, max_bytes: int = 10_000_000, backups: int = 5):
        self.logger = logging.Logger("newsletter.web.access", logging.INFO)
        self.logger.propagate = False
        self.path = Path(target) if target not in (None, "", "-") else None
        if target == "-":
            handler: logging.Handler = logging.StreamHandler(sys.stdout)
        elif self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(self.path, maxBytes=max_bytes, backupCount=backups,
                                                           encoding="utf-8")
        else:
            handler = logging.NullHandler()
        handler.setFormatter(UTCFormatter("%(asctime)s %(message)s"))
        self.logger.addHandler(handler)

    def request(self, method: str, path: str, status: str | int, size: int, seconds: float) -> None:
        code = str(status).split(" ", 1)[0]
        self.logger.info("%s %s %s %dB %.1fms", method_of(method), route_of(path), code, size, seconds * 1000)

    def refused(self, status: str | int, size: int) -> None:
        """A request the server refused before the app saw it (malformed, too large): no route to name."""
        self.logger.info("- <request> %s %dB", str(status).split(" ", 1)[0], size)

    def connection(self, what: str) -> None:
        """A connection closed or refused without a request answered (`what` names no client)."""
        self.logger.info("- <connection> %s", what)

    def close(self) -> None:
        for h in list(self.logger.handlers):
            h.close()
            self.logger.removeHandler(h)
