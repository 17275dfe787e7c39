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
Lines are written out once a second (and on stop), not one system call per request.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from pathlib import Path

from ..render.archive import ARCHIVE_PATH

METHODS = frozenset({"GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "PATCH", "TRACE", "CONNECT"})
_FEEDBACK = re.compile(r"/feedback/[^/]*")


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
    """Where the lines go: a file (rotated at `max_bytes`, `backups` kept), standard output, or
    nowhere. Lines are buffered and written out by `flush()` (the server calls it every second and
    on stop), so answering a request never waits for the disk; each server has its own log."""

    def __init__(self, target: str | Path | None, max_bytes: int = 10_000_000, backups: int = 5):
        self.path = Path(target) if target not in (None, "", "-") else None
        self.stdout = target == "-"
        self.max_bytes, self.backups = max_bytes, backups
        self._lock = threading.Lock()
        self._lines: list[str] = []
        self._file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
            self._size = self._file.tell()

    def write(self, line: str) -> None:
        if self._file is None and not self.stdout:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self._lock:
            self._lines.append(f"{stamp} {line}\n")
            if len(self._lines) >= 1000:
                self._flush()

    def request(self, method: str, path: str, status: str | int, size: int, seconds: float) -> None:
        code = str(status).split(" ", 1)[0]
        self.write(f"{method_of(method)} {route_of(path)} {code} {size}B {seconds * 1000:.1f}ms")

    def refused(self, status: str | int, size: int) -> None:
        """A request the server refused before the app saw it (malformed, too large): no route to name."""
        self.write(f"- <request> {str(status).split(' ', 1)[0]} {size}B")

    def connection(self, what: str) -> None:
        """A connection closed or refused without a request answered (`what` names no client)."""
        self.write(f"- <connection> {what}")

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        lines, self._lines = "".join(self._lines), []
        if not lines:
            return
        if self.stdout:
            sys.stdout.write(lines)
            sys.stdout.flush()
            return
        if self._file is None:
            return
        if self._size + len(lines) > self.max_bytes > 0:
            self._rotate()
        self._file.write(lines)
        self._file.flush()
        self._size += len(lines.encode("utf-8"))

    def _rotate(self) -> None:
        """access.log -> access.log.1 -> … -> access.log.N (the oldest dropped), then a new access.log."""
        self._file.close()
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.backups > 0:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        self._size = 0

    def close(self) -> None:
        with self._lock:
            self._flush()
            if self._file is not None:
                self._file.close()
                self._file = None
