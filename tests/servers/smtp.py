"""A recording, fault-injecting SMTP server (aiosmtpd) on 127.0.0.1, and a test CA made with openssl.

Faults are scripted per (stage, address): `server.script("rcpt", "bob@x.org", "451 4.3.0 later")`
makes the next RCPT of bob get that reply; "DISCONNECT" drops the connection instead (at the
"data" stage: after the whole message was received, before the reply: the worst case).
Other knobs: `delay` before every reply, `min_gap` between MAIL commands (else 421 4.7.0),
`quota_after` accepted messages (then 554 5.4.5), `eightbitmime=False` (EHLO without it),
AUTH with one user, STARTTLS or implicit TLS.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import subprocess
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from newsletter.deliver.sink import SMTPServerThread

_MSGID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


@dataclass
class Received:
    mail_from: str
    rcpt: str
    message_id: str
    data: bytes


class _DelayedSMTP(SMTP):
    """Waits `delay` seconds before every reply: a relay's round trip."""

    delay = 0.0

    async def push(self, status):  # type: ignore[override]
        if self.delay:
            await asyncio.sleep(self.delay)
        await super().push(status)


@dataclass
class FaultHandler:
    delay: float = 0.0
    min_gap: float = 0.0
    quota_after: int | None = None
    eightbitmime: bool = True  # False: EHLO does not announce 8BITMIME
    scripts: dict[tuple[str, str], deque[str]] = field(default_factory=lambda: defaultdict(deque))
    always: dict[tuple[str, str], str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    dropped: list[Received] = field(default_factory=list)  # whole messages whose reply never came
    connections: int = 0
    throttled: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _last_mail: float = 0.0

    def _fault(self, stage: str, address: str) -> str | None:
        key = (stage, address.lower())
        with self.lock:
            if self.scripts.get(key):
                return self.scripts[key].popleft()
            return self.always.get(key)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.connections += 1
        return [r for r in responses if self.eightbitmime or r[4:].upper() != "8BITMIME"]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        now = time.monotonic()
        with self.lock:
            too_soon = self.min_gap and now - self._last_mail < self.min_gap
            self._last_mail = now
            if too_soon:
                self.throttled += 1
        if too_soon:
            return "421 4.7.0 Too many messages, slow down"
        fault = self._fault("mail", address)
        if fault:
            return fault
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        fault = self._fault("rcpt", address)
        if fault == "DISCONNECT":
            server.transport.abort()
            return "421 closing"
        if fault:
            return fault
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        rcpt = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        fault = self._fault("data", rcpt)
        data = envelope.original_content or envelope.content
        m = _MSGID.search(data.split(b"\r\n\r\n", 1)[0])
        mid = m.group(1).decode() if m else ""
        if fault == "DISCONNECT":
            with self.lock:
                self.dropped.append(Received(envelope.mail_from, rcpt, mid, data))
            server.transport.abort()
            return "451 gone"
        if fault and fault.startswith("SLOW "):  # accept, but only after the client gave up
            await asyncio.sleep(float(fault.split()[1]))
            fault = None
        if fault:
            return fault
        with self.lock:
            if self.quota_after is not None and len(self.received) >= self.quota_after:
                return "554 5.4.5 Daily user sending quota exceeded"
        with self.lock:
            for r in envelope.rcpt_tos:
                self.received.append(Received(envelope.mail_from, r, mid, data))
        return "250 2.0.0 Queued"

    def ids(self) -> list[str]:
        with self.lock:
            return [r.message_id for r in self.received]


class FaultSMTPServer:
    """`with FaultSMTPServer(...) as s:` → s.port, s.handler (scripts, received)."""

    def __init__(
        self, *, delay: float = 0.0, tls: TLSFiles | None = None, mode: str = "none",
        auth: tuple[str, str] | None = None, **handler_kw,
    ):
        self.handler = FaultHandler(delay=delay, **handler_kw)
        kw: dict = {}
        ssl_context = None
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls.cert, tls.key)
            if mode == "ssl":
                ssl_context = ctx
            else:
                kw["tls_context"] = ctx
                kw["require_starttls"] = True
        if auth is not None:
            user, password = auth

            def authenticator(server, session, envelope, mechanism, auth_data):
                ok = isinstance(auth_data, LoginPassword) and (
                    auth_data.login.decode(), auth_data.password.decode()) == (user, password)
                return AuthResult(success=ok, handled=False)

            kw["authenticator"] = authenticator
            kw["auth_required"] = True
            kw["auth_require_tls"] = mode != "ssl"
        cls = type("Delayed", (_DelayedSMTP,), {"delay": delay})
        self.thread = SMTPServerThread(self.handler, ssl_context=ssl_context, smtp_class=cls, **kw)

    @property
    def port(self) -> int:
        return self.thread.port

    def script(self, stage: str, address: str, *replies: str) -> None:
        with self.handler.lock:
            self.handler.scripts[(stage, address.lower())].extend(replies)

    def always(self, stage: str, address: str, reply: str) -> None:
        with self.handler.lock:
            self.handler.always[(stage, address.lower())] = reply

    def __enter__(self) -> FaultSMTPServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.thread.stop()


@dataclass
class TLSFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls_files(folder: Path) -> TLSFiles:
    """A throw-away CA and a certificate for 127.0.0.1/localhost signed by it (openssl CLI)."""
    folder.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    (folder / "leaf.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=newsletter test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.ext")
    return TLSFiles(ca=folder / "ca.pem", cert=folder / "leaf.pem", key=folder / "leaf.key")
