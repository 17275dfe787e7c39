"""The sample day served on 127.0.0.1 as arXiv's API answers it: what `newsletter run --demo` fetches.

Only what the demo needs: `/api/query` answers the `cat:` terms and the `submittedDate:[A TO B]`
window of the fetcher's query, paged by `start`/`max_results` with `opensearch:totalResults`, in
the Atom of the arXiv API User's Manual. PDF links are left pointing at arxiv.org, so links in
the demo issue work after the demo ends. (Tests use a fault-injecting server under tests/.)
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from . import load_entries
from .atom import Entry, feed_xml

_CAT = re.compile(r"cat:([\w.\-]+)")
_WINDOW = re.compile(r"submittedDate:\[(\d{12}) TO (\d{12})\]")


def matching(entries: list[Entry], query: str) -> list[Entry]:
    """The entries a fetcher query selects: any of its categories, submitted inside its window."""
    cats = set(_CAT.findall(query))
    window = _WINDOW.search(query)
    out = [e for e in entries if not cats or cats & set(e.categories)]
    if window:
        lo, hi = (datetime.strptime(v, "%Y%m%d%H%M").replace(tzinfo=UTC) for v in window.groups())
        out = [e for e in out if lo <= e.published <= hi.replace(second=59)]
    return sorted(out, key=lambda e: (e.published, e.id), reverse=True)


def _handler(entries: list[Entry]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
            pass

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            parts = urlsplit(self.path)
            if parts.path != "/api/query":
                body, status, ctype = b"not found\n", 404, "text/plain"
            else:
                q = dict(parse_qsl(parts.query, keep_blank_values=True))
                hits = matching(entries, q.get("search_query", ""))
                start = int(q.get("start", "0") or 0)
                size = min(int(q.get("max_results", "10") or 10), 2000)
                body = feed_xml(hits[start:start + size], total=len(hits), start=start, items_per_page=size, query=q)
                status, ctype = 200, "application/atom+xml; charset=utf-8"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def serve_sample() -> Iterator[str]:
    """The sample day on a loopback arXiv stand-in; yields the base_url for [arxiv].base_url."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(load_entries()))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/api/query"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
