"""The production HTTP server of `newsletter serve`: waitress, tuned for a click burst and hostile
clients, with a drain on stop.

Why waitress (measured by bench/bench_serve.py and in the README): pure Python, threads, and a
request reaches a worker only once it has arrived whole, so a client that stalls mid-request costs
a socket, never a worker. On top of waitress's own checks this adds:

- limits: a header block over HEADER_LIMIT is 431, a body over BODY_LIMIT is 413 without being
  read, a connection silent for `client_timeout` seconds is closed (a lying Content-Length ends
  there), at most `connections_per_client` open connections per address (more are closed at
  once; trusted proxies are exempt: they carry many clients) and `max_connections` in all;
- one access-log line for what never reaches the app: a malformed or oversized request, a
  connection refused, a connection cut because its request never arrived whole;
- `close()`: stop accepting, finish the requests in flight (at most `grace` seconds), close the
  rest; `newsletter serve` does that on SIGTERM and returns within a second.

Servers for people bind loopback; `host` is whatever `[web] host` says (127.0.0.1 by default).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher

from .access import AccessLog
from .guard import networks, trusted

log = logging.getLogger(__name__)

HEADER_LIMIT = 16_384  # request line and headers; a browser sends ~1 KB, a proxy adds a few lines
BODY_LIMIT = 16_384  # the unsubscribe button posts one field; feedback posts none
DRAIN_SECONDS = 0.8  # finishing in-flight requests on stop; `serve` is gone within a second
LOOP_SECONDS = 0.25  # the longest the event loop sleeps before it looks at the stop flag
ACCEPT_BATCH = 64  # connections taken from the listen queue per turn of the event loop

logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth" on every busy moment


class _ErrorTask(ErrorTask):
    """waitress's answer to a request it refuses before the app (400, 413, 431, 501): plus one log line."""

    def execute(self):
        super().execute()
        self.channel.server.access.refused(self.status, self.content_length or 0)


class _Channel(HTTPChannel):
    """One client connection: counted per address, and logged when cut before its request arrived."""

    error_task_class = _ErrorTask
    timed_out = False
    got_data = False
    _counted = False

    def __init__(self, server, sock, addr, adj, map=None):
        super().__init__(server, sock, addr, adj, map=map)
        self.client = addr[0]
        server.clients[self.client] += 1
        self._counted = True

    def received(self, data):
        self.got_data = self.got_data or bool(data)
        return super().received(data)

    def del_channel(self, map=None):
        if self._counted:
            self._counted = False
            clients = self.server.clients
            clients[self.client] -= 1
            if clients[self.client] <= 0:
                del clients[self.client]
            if self.timed_out:
                self._log_timeout()
        super().del_channel(map)

    def _log_timeout(self) -> None:
        seconds = self.adj.channel_timeout
        if self.request is not None and (self.request.header_plus or self.request.headers_finished):
            self.server.access.connection(f"closed: request incomplete after {seconds:g} s silent")
        elif not self.got_data:
            self.server.access.connection(f"closed: nothing sent in {seconds:g} s")


class _Server(TcpWSGIServer):
    """waitress's TCP server with a cap on open connections per client address."""

    channel_class = _Channel

    def __init__(self, app: Callable, access: AccessLog, per_client: int, exempt: Iterable[str], adj: Adjustments,
                 dispatcher: ThreadedTaskDispatcher, socket_map: dict):
        self.access = access
        self.per_client = per_client
        self.exempt = networks(exempt)
        self.clients: Counter[str] = Counter()  # touched by the event-loop thread only
        super().__init__(app, map=socket_map, dispatcher=dispatcher, adj=adj, sockinfo=adj.listen[0])

    def handle_accept(self):
        """Take every connection waiting (up to ACCEPT_BATCH), not one per turn of the loop: in a
        burst the loop then turns once for many new clients."""
        for _ in range(ACCEPT_BATCH):
            if len(self._map) >= self.adj.connection_limit:
                return
            try:
                pair = self.accept()
            except OSError:
                return
            if pair is None:
                return
            self._admit(*pair)

    def _admit(self, conn, addr) -> None:
        if self.clients[addr[0]] >= self.per_client and not trusted(addr[0], self.exempt):
            conn.close()
            self.access.connection(f"refused: over {self.per_client} open connections from one client")
            return
        try:
            self.set_socket_options(conn)
        except OSError:
            conn.close()
            return
        self.channel_class(self, conn, addr, self.adj, map=self._map)

    def maintenance(self, now):
        """Every second: write out the access log; close connections silent for `channel_timeout`
        with no request being answered, marked so their close is logged."""
        self.access.flush()
        cutoff = now - self.adj.channel_timeout
        for channel in list(self.active_channels.values()):
            if not channel.requests and channel.last_activity < cutoff and not channel.will_close:
                channel.will_close = True
                channel.timed_out = True


class PublicServer:
    """A WSGI app on (host, port) with `threads` workers, in a background thread.

    `.url` is the bound address (port 0 picks a free one); `with` or `start()` starts it; `close()`
    stops taking connections, lets the requests in flight finish for at most `grace` seconds, then
    closes everything."""

    def __init__(self, app: Callable, access: AccessLog, *, host: str = "127.0.0.1", port: int = 0,
                 threads: int = 8, client_timeout: float = 15, connections_per_client: int = 20,
                 max_connections: int = 500, trusted_proxies: Iterable[str] = (), name: str = "serve"):
        listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        adj = Adjustments(
            listen=listen, threads=threads, channel_timeout=client_timeout, cleanup_interval=1,
            connection_limit=max_connections, max_request_header_size=HEADER_LIMIT,
            max_request_body_size=BODY_LIMIT, asyncore_use_poll=True, clear_untrusted_proxy_headers=False,
            log_socket_errors=False, expose_tracebacks=False, ident="newsletter", backlog=1024,
        )
        self.access = access
        self.map: dict = {}
        self.dispatcher = ThreadedTaskDispatcher()
        self.dispatcher.set_thread_count(threads)
        try:
            self.server = _Server(app, access, connections_per_client, trusted_proxies, adj, self.dispatcher, self.map)
        except BaseException:
            self.dispatcher.shutdown(timeout=1)
            wasyncore.close_all(self.map, ignore_all=True)
            access.close()
            raise
        self.host, self.port = self.server.effective_host, int(self.server.effective_port)
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{shown}:{self.port}/"
        self._stop = threading.Event()
        self._grace = DRAIN_SECONDS
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def start(self) -> PublicServer:
        if not self.thread.is_alive() and not self._stop.is_set():
            self.thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                wasyncore.loop(timeout=LOOP_SECONDS, map=self.map, use_poll=True, count=1)
            self._drain(time.monotonic() + self._grace)
        finally:
            self.dispatcher.shutdown(cancel_pending=True, timeout=0.2)
            busy = bool(self.dispatcher.threads)  # a worker past its time still wakes the loop at the end
            for item in list(self.map.values()):
                if not (busy and item is self.server.trigger):
                    try:
                        item.close()
                    except OSError:
                        pass

    def _drain(self, deadline: float) -> None:
        """Stop accepting; close every connection with nothing in flight, as soon as it has none."""
        self.server.accepting = False
        wasyncore.dispatcher.close(self.server)  # the listening socket only (the server's close() ends the trigger too)
        while time.monotonic() < deadline:
            for channel in list(self.server.active_channels.values()):
                if not channel.requests and not channel.total_outbufs_len:
                    channel.handle_close()
            if not self.server.active_channels:
                return
            wasyncore.loop(timeout=0.02, map=self.map, use_poll=True, count=1)
        left = len(self.server.active_channels)
        if left:
            log.warning("serve: %d connection(s) still busy after %.1f s; closing them", left, self._grace)

    def close(self, grace: float = DRAIN_SECONDS) -> None:
        self._grace = grace
        self._stop.set()
        if self.thread.is_alive():
            try:
                self.server.trigger.pull_trigger()  # wake the loop now rather than at its next tick
            except OSError:
                pass
            self.thread.join(grace + 2)
        else:
            self.dispatcher.shutdown(cancel_pending=True, timeout=0.2)
            wasyncore.close_all(self.map, ignore_all=True)
        self.access.close()

    def __enter__(self) -> PublicServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
