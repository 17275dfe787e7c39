"""SMTP servers on 127.0.0.1: the embedded outbox sink, and the runner tests and benches reuse.

With no `[smtp] host` configured, mail goes to an aiosmtpd server started here on a random
loopback port that writes every message to the outbox folder as an `.eml` file. The sender
does not know: the whole SMTP path (pool, ledger, faults) is exercised for real.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_MSGID = re.compile(rb"^Message-ID:[ \t]*<([^>\r\n]{1,200})>", re.IGNORECASE | re.MULTILINE)
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


class SMTPServerThread:
    """An aiosmtpd server in its own thread and event loop, listening on 127.0.0.1 only.

    `smtp_class` and `smtp_kwargs` let tests plug in a fault-injecting subclass; `ssl_context`
    makes it an implicit-TLS (SMTPS) server. Port 0 picks a free port, read back from `.port`.
    """

    def __init__(
        self,
        handler: Any,
        *,
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        smtp_class: Callable[..., Any] | None = None,
        **smtp_kwargs: Any,
    ):
        self.handler = handler
        self.host = "127.0.0.1"
        self.port = port
        self.ssl_context = ssl_context
        self.smtp_class = smtp_class
        self.smtp_kwargs = {"hostname": "localhost", **smtp_kwargs}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _factory(self) -> Any:
        from aiosmtpd.smtp import SMTP

        cls = self.smtp_class or SMTP
        return cls(self.handler, loop=self._loop, **self.smtp_kwargs)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                loop.create_server(self._factory, host=self.host, port=self.port, ssl=self.ssl_context)
            )
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as e:  # reported to start()
            self._error = e
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def start(self) -> SMTPServerThread:
        self._thread = threading.Thread(target=self._run, name="smtp-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the SMTP server did not start within 10 s")
        if self._error is not None:
            raise RuntimeError(f"the SMTP server could not start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> SMTPServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def eml_name(content: bytes) -> str:
    """File name for a message: its Message-ID made path-safe, so a resend overwrites, not doubles."""
    head = content.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    m = _MSGID.search(head)
    stem = _UNSAFE.sub("_", m.group(1).decode("ascii", "replace")) if m else uuid.uuid4().hex
    return f"{stem.strip('.') or uuid.uuid4().hex}.eml"


def write_atomic(folder: Path, name: str, data: bytes) -> Path:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    target = folder / name
    os.replace(tmp, target)
    return target


class OutboxHandler:
    """aiosmtpd handler writing each accepted message to `folder/<Message-ID>.eml`."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        write_atomic(self.folder, eml_name(content), content)
        self.count += 1
        return "250 2.0.0 OK: written to the outbox"


@contextmanager
def outbox_sink(folder: Path) -> Iterator[SMTPServerThread]:
    """The embedded sink, running for the duration of the `with` block."""
    server = SMTPServerThread(OutboxHandler(folder))
    server.start()
    try:
        yield server
    finally:
        server.stop()
