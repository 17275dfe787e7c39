"""A WSGI app served on 127.0.0.1 in a background thread: what `preview` runs (and what `serve`
ran before serving.py; bench/bench_serve.py still measures it as the old server).

Single-threaded on purpose: the store's SQLite connection is never used by two requests at once.
Servers for people bind to loopback only; a public site goes behind a TLS reverse proxy.
"""

from __future__ import annotations

import logging
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

HOST = "127.0.0.1"
log = logging.getLogger(__name__)


class _Handler(WSGIRequestHandler):
    timeout = 15  # a client that stalls cannot hold the single-threaded server for long

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        log.debug("%s " + format, self.server.server_name, *args)


class LocalServer:
    """`.url` is the bound address (port 0 picks a free one); `with` starts it, `.close()` stops it."""

    def __init__(self, app, port: int = 0, name: str = "http"):
        self.httpd: WSGIServer = make_server(HOST, port, app, handler_class=_Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://{HOST}:{self.port}/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True
        )

    def start(self) -> LocalServer:
        if not self.thread.is_alive():
            self.thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
