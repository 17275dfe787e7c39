"""A static web server on 127.0.0.1 (the stdlib's http.server), as a static host serves a published
site: `StaticServer(root)` serves the folder `root`, so a site published to `root/<name>` is
reachable under the path prefix `/<name>/`. Requests are recorded; nothing is logged to stderr."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format, *args) -> None:  # noqa: A002 - the stdlib's signature
        self.requests.append(self.path)


class StaticServer:
    def __init__(self, root: Path):
        self.requests: list[str] = []
        handler = type("Handler", (_Handler,), {"requests": self.requests})
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="static", daemon=True)

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
