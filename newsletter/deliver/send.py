"""Send an edition to its subscribers: a pool of reused SMTP connections and a ledger.

Exactly-once across crashes comes from the `deliveries` ledger: every recipient's row (with
its Message-ID) exists before anything is sent; a row is marked `sending` (committed) before
the message goes out and `sent` after the server's 250 (committed together with the next
ledger write, so one commit per message). A killed run leaves a few `sending` rows (about one
per connection); the next run sends `pending`, `deferred` and `sending` rows, the last with the
same Message-ID. So duplicates can only be the messages in flight at a crash.

Faults: 4xx → deferred and retried with backoff (in this run, then by the next); 421 and 4.7.x
→ also slow the whole pool down; 5.1.x → failed and suppressed as a hard bounce; other 5xx →
failed; authentication failure, 5.4.5 / sending quota, an unverifiable certificate or an
unreachable server → the batch stops cleanly (in-flight messages finish, the rest stays
pending) and DeliveryError is raised (the CLI exits 1 with its message).
"""

from __future__ import annotations

import heapq
import logging
import random
import re
import smtplib
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

from .config import Config
from .message import MessageError, MessageFactory, new_message_id
from .models import Edition, Subscriber
from .shutdown import stop_requested
from .store import Store

log = logging.getLogger(__name__)

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_UNKNOWN_USER = re.compile(r"unknown|no such|does not exist|not exist|not found|invalid (recipient|mailbox|user)")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class DeliveryError(Exception):
    """The batch was stopped (auth, quota, TLS, unreachable server); str(e) is one line for the user."""

    def __init__(self, message: str, report: SendReport | None = None):
        super().__init__(message)
        self.report = report


@dataclass
class RetryPolicy:
    """How hard one run tries; tests shrink the waits."""

    run_attempts: int = 4  # tries of one message within a run (then it waits for the next run)
    backoff: float = 2.0  # first retry after this many seconds, doubling, with jitter
    max_backoff: float = 60.0
    max_attempts: int = 12  # tries across runs; then the message is given up as failed
    connect_failures: int = 3  # connection attempts in a row that fail before the batch stops
    throttle_pause: float = 5.0  # the pool pauses this long after 421 / 4.7.x
    throttle_interval: float = 0.05  # first gap between messages once throttled (it doubles)


@dataclass
class SendReport:
    edition_id: int
    totals: dict[str, int] = field(default_factory=dict)
    sent_now: int = 0
    throttled: int = 0
    reconnects: int = 0
    refused: dict[str, str] = field(default_factory=dict)  # address -> the server's reply
    stopped: str = ""

    def counts(self) -> dict[str, int]:
        t = self.totals
        return {
            "sent": t.get("sent", 0), "deferred": t.get("deferred", 0), "failed": t.get("failed", 0),
            "suppressed": t.get("suppressed", 0), "pending": t.get("pending", 0) + t.get("sending", 0),
            "sent_now": self.sent_now,
        }

    @property
    def complete(self) -> bool:
        c = self.counts()
        return c["pending"] == 0 and c["deferred"] == 0


def classify(code: int, text: str, stage: str = "data") -> str:
    """An SMTP reply → throttle | deferred | hard_bounce | failed | fatal."""
    m = _ENHANCED.search(text[:60])
    enh = m.group(0) if m else ""
    low = text.lower()
    if enh == "5.4.5" or ("quota" in low and not enh.startswith(("5.2.", "4.2."))):
        return "fatal"  # the sender's sending quota: every further message would fail too
    if code in (530, 534, 535) or (enh in ("5.7.0", "5.7.8", "5.7.9") and "auth" in low):
        return "fatal"
    if code == 421 or enh.startswith("4.7."):
        return "throttle"
    if 400 <= code < 500:
        return "deferred"
    if enh.startswith("5.1."):
        return "hard_bounce"
    if not enh and stage == "rcpt" and code in (550, 551, 553) and _UNKNOWN_USER.search(low):
        return "hard_bounce"
    if 500 <= code < 600:
        return "failed"
    return "deferred"


def _reply(code: int, msg: bytes | str) -> str:
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    return f"{code} {' '.join(text.split())}"[:300]


class _Fatal(Exception):
    pass


class _ConnectFailed(Exception):
    pass


@dataclass
class _Params:
    host: str
    port: int
    security: str
    timeout: float
    username: str = ""
    password: str | None = None
    context: ssl.SSLContext | None = None
    helo: str = "localhost"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def _params(cfg: Config, host: str | None = None, port: int | None = None) -> _Params:
    """Connection settings, checked before anything is sent (missing password, plaintext AUTH)."""
    s = cfg.smtp
    if host is not None:  # the embedded sink
        return _Params(host=host, port=port or 25, security="none", timeout=s.timeout)
    password = None
    if s.username:
        password = s.password()
        if not password:
            raise DeliveryError(
                f"[smtp] username is set but the environment variable {s.password_env} is empty; "
                "export the SMTP password there"
            )
        if s.security == "none" and s.host not in _LOOPBACK:
            raise DeliveryError(
                f"[smtp] security = \"none\" would send the password to {s.host} unencrypted; "
                "use starttls or ssl"
            )
    context = None
    if s.security != "none":
        context = ssl.create_default_context()
        if s.ca_file:
            try:
                context.load_verify_locations(cafile=str(cfg.resolve(s.ca_file)))
            except (OSError, ssl.SSLError) as e:
                raise DeliveryError(f"[smtp] ca_file {s.ca_file!r}: cannot load it ({e})") from None
    helo = "localhost" if s.host in _LOOPBACK else socket.getfqdn()
    return _Params(host=s.host, port=s.port, security=s.security, timeout=s.timeout, username=s.username,
                   password=password, context=context, helo=helo)


class _Connection:
    """One SMTP session, opened lazily and reused for many messages."""

    def __init__(self, params: _Params):
        self.p = params
        self.smtp: smtplib.SMTP | None = None

    def open(self) -> None:
        p = self.p
        try:
            if p.security == "ssl":
                s: smtplib.SMTP = smtplib.SMTP_SSL(p.host, p.port, local_hostname=p.helo, timeout=p.timeout,
                                                   context=p.context)
            else:
                s = smtplib.SMTP(p.host, p.port, local_hostname=p.helo, timeout=p.timeout)
        except ssl.SSLCertVerificationError as e:
            raise _Fatal(f"the TLS certificate of {p.where} cannot be verified ({e.verify_message}); "
                         "set [smtp] ca_file to its CA if it is private") from None
        except smtplib.SMTPConnectError as e:
            raise _ConnectFailed(f"{p.where} refused the session: {_reply(e.smtp_code, e.smtp_error)}") from None
        except OSError as e:
            raise _ConnectFailed(f"cannot connect to {p.where}: {e}") from None
        try:
            s.ehlo()
            if p.security == "starttls":
                if not s.has_extn("starttls"):
                    raise _Fatal(f"{p.where} does not offer STARTTLS; set [smtp] security = \"ssl\" "
                                 "(usually port 465) or use another relay")
                s.starttls(context=p.context)
                s.ehlo()
            if p.username:
                s.login(p.username, p.password or "")
        except smtplib.SMTPAuthenticationError as e:
            _close(s)
            raise _Fatal(f"SMTP authentication failed for {p.username!r} at {p.where}: "
                         f"{_reply(e.smtp_code, e.smtp_error)}; check [smtp] username and the password "
                         "environment variable") from None
        except smtplib.SMTPNotSupportedError as e:
            _close(s)
            raise _Fatal(f"{p.where}: {e}") from None
        except ssl.SSLCertVerificationError as e:
            _close(s)
            raise _Fatal(f"the TLS certificate of {p.where} cannot be verified ({e.verify_message}); "
                         "set [smtp] ca_file to its CA if it is private") from None
        except smtplib.SMTPResponseException as e:
            _close(s)
            if classify(e.smtp_code, _reply(e.smtp_code, e.smtp_error)) == "fatal":
                raise _Fatal(f"{p.where}: {_reply(e.smtp_code, e.smtp_error)}") from None
            raise _ConnectFailed(f"{p.where}: {_reply(e.smtp_code, e.smtp_error)}") from None
        except OSError as e:
            _close(s)
            raise _ConnectFailed(f"{p.where}: connection lost while opening the session ({e})") from None
        self.smtp = s

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            _close(self.smtp)
            self.smtp = None

    def drop(self) -> None:
        if self.smtp is not None:
            _close(self.smtp)
            self.smtp = None


def _close(s: smtplib.SMTP) -> None:
    try:
        s.close()
    except OSError:
        pass


@dataclass(order=True)
class _Job:
    email: str
    name: str = field(compare=False)
    message_id: str = field(compare=False)
    attempts: int = field(compare=False, default=0)  # across runs, as in the ledger
    tries: int = field(compare=False, default=0)  # in this run


class _Queue:
    """Ready jobs, jobs waiting for their retry time, and how many are being worked on."""

    def __init__(self, jobs: list[_Job]):
        self.ready: deque[_Job] = deque(jobs)
        self.delayed: list[tuple[float, int, _Job]] = []
        self.busy = 0
        self.stopped = False
        self._seq = 0
        self.cv = threading.Condition()

    def get(self) -> _Job | None:
        with self.cv:
            while True:
                if self.stopped:
                    return None
                now = time.monotonic()
                while self.delayed and self.delayed[0][0] <= now:
                    self.ready.append(heapq.heappop(self.delayed)[2])
                if self.ready:
                    self.busy += 1
                    return self.ready.popleft()
                if not self.delayed and self.busy == 0:
                    self.cv.notify_all()
                    return None
                self.cv.wait(self.delayed[0][0] - now if self.delayed else None)

    def done(self, job: _Job, retry_at: float | None = None, front: bool = False) -> None:
        with self.cv:
            self.busy -= 1
            if front:
                self.ready.appendleft(job)
            elif retry_at is not None:
                self._seq += 1
                heapq.heappush(self.delayed, (retry_at, self._seq, job))
            self.cv.notify_all()

    def stop(self) -> None:
        with self.cv:
            self.stopped = True
            self.cv.notify_all()


class _Pace:
    """The configured rate across the pool, and the slow-down after 421 / 4.7.x."""

    def __init__(self, rate: float, policy: RetryPolicy):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.policy = policy
        self.next = 0.0
        self.lock = threading.Lock()
        self.throttled = 0

    def wait(self, stop: threading.Event) -> None:
        with self.lock:
            now = time.monotonic()
            t = max(now, self.next)
            self.next = t + self.interval
        if t > now:
            stop.wait(t - now)

    def slow_down(self) -> None:
        with self.lock:
            self.throttled += 1
            self.interval = min(max(self.interval * 2, self.policy.throttle_interval), 5.0)
            self.next = max(self.next, time.monotonic() + self.policy.throttle_pause)


class _Sender:
    """The worker pool for one edition: each thread owns one connection and takes jobs."""

    def __init__(
        self, store: Store, edition_id: int, factory: MessageFactory, params: _Params, mail_from: str,
        pool_size: int, rate: float, policy: RetryPolicy, total: int,
    ):
        self.store, self.edition_id, self.factory, self.params = store, edition_id, factory, params
        self.mail_from, self.pool_size, self.policy, self.total = mail_from, pool_size, policy, total
        self.pace = _Pace(rate, policy)
        self.db_lock = threading.Lock()
        self.stats_lock = threading.Lock()
        self.stop_event = threading.Event()
        self.queue: _Queue | None = None
        self.fatal = ""
        self.connect_failures = 0
        self.done = 0
        self.sent_now = 0
        self.reconnects = 0
        self.refused: dict[str, str] = {}
        self._sent_backlog: list[str] = []

    # -- ledger (one sqlite connection: one writer at a time) --------------------------------

    def _set(self, job: _Job, status: str, error: str = "", attempt: bool = False) -> None:
        with self.db_lock, self.store.transaction():
            self._flush_sent()
            self.store.set_delivery(self.edition_id, job.email, status, error, attempt=attempt)

    def _mark_sent(self, job: _Job) -> None:
        """`sent` rides along with the next ledger write (one commit per message, not two).

        Until then the row still says `sending`: if the process dies in between, the message
        is sent again with its Message-ID, which is the in-flight case the guarantee allows.
        """
        with self.db_lock:
            self._sent_backlog.append(job.email)

    def _flush_sent(self) -> None:
        for email in self._sent_backlog:
            self.store.set_delivery(self.edition_id, email, "sent")
        self._sent_backlog.clear()

    def flush(self) -> None:
        with self.db_lock, self.store.transaction():
            self._flush_sent()

    def _bounce(self, job: _Job, reply: str) -> None:
        with self.db_lock, self.store.transaction():
            self._flush_sent()
            self.store.set_delivery(self.edition_id, job.email, "failed", reply)
            self.store.suppress(job.email, "hard_bounce", reply)

    # -- the pool --------------------------------------------------------------------------

    def run(self, jobs: list[_Job], tick: Callable[[], None] | None = None) -> None:
        self.queue = _Queue(jobs)
        threads = [
            threading.Thread(target=self._worker, name=f"smtp-{i}", daemon=True)
            for i in range(min(self.pool_size, len(jobs)))
        ]
        for t in threads:
            t.start()
        try:
            self._join(threads, tick)
        finally:
            self.flush()

    def _join(self, threads: list[threading.Thread], tick: Callable[[], None] | None) -> None:
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.25)
                    if stop_requested() and not self.stop_event.is_set():  # wake paced/backing-off workers
                        self.stop_event.set()
                        self.queue.stop()
                    if tick:
                        tick()
        except BaseException:
            self._stop("interrupted")
            for t in threads:
                t.join(self.params.timeout + 5)
            raise

    def _stop(self, why: str) -> None:
        with self.stats_lock:
            if not self.fatal:
                self.fatal = why
        self.stop_event.set()
        assert self.queue is not None
        self.queue.stop()

    def _worker(self) -> None:
        conn = _Connection(self.params)
        assert self.queue is not None
        try:
            while (job := self.queue.get()) is not None:
                try:
                    self._one(conn, job)
                except Exception as e:  # a bug must not leave the pool hanging
                    log.exception("unexpected error while sending to %s", job.email)
                    self._set(job, "pending", f"internal error: {e}"[:300])
                    self.queue.done(job)
                    self._stop(f"internal error while sending: {e!r}")
        finally:
            conn.close()

    def _retry_at(self, job: _Job) -> float | None:
        """When to try again in this run, or None to leave it to the next run."""
        if job.tries >= self.policy.run_attempts or job.attempts >= self.policy.max_attempts:
            return None
        wait = min(self.policy.backoff * 2 ** (job.tries - 1), self.policy.max_backoff)
        return time.monotonic() + wait * random.uniform(0.8, 1.2)

    def _one(self, conn: _Connection, job: _Job) -> None:
        q = self.queue
        assert q is not None
        self.pace.wait(self.stop_event)
        if stop_requested():  # SIGTERM/SIGINT: no new message; the ones in flight finish
            self.stop_event.set()
            q.stop()
        if self.stop_event.is_set():
            q.done(job, front=True)
            return
        if conn.smtp is None:
            try:
                conn.open()
                with self.stats_lock:
                    self.connect_failures = 0
                    self.reconnects += 1
            except _Fatal as e:
                q.done(job, front=True)
                self._stop(str(e))
                return
            except _ConnectFailed as e:
                with self.stats_lock:
                    self.connect_failures += 1
                    n = self.connect_failures
                q.done(job, front=True)
                if n >= self.policy.connect_failures:
                    self._stop(f"{e} (failed {n} times in a row)")
                else:
                    self.stop_event.wait(min(self.policy.backoff * n, self.policy.max_backoff))
                return
        try:
            data = self.factory.build(job.email, job.name, job.message_id)
        except MessageError as e:
            self._set(job, "failed", str(e)[:300])
            self._finish(job)
            return
        options: list[str] = []
        if not (job.email.isascii() and self.mail_from.isascii()):
            options.append("SMTPUTF8")
        job.tries += 1
        job.attempts += 1
        self._set(job, "sending", "", attempt=True)  # committed before DATA: the in-flight mark
        try:
            refused = conn.smtp.sendmail(self.mail_from, [job.email], data, mail_options=options)
        except smtplib.SMTPRecipientsRefused as e:
            code, msg = e.recipients.get(job.email, (451, b"recipient refused"))
            self._outcome(conn, job, code, _reply(code, msg), "rcpt")
            return
        except smtplib.SMTPSenderRefused as e:
            reply = _reply(e.smtp_code, e.smtp_error)
            if 500 <= e.smtp_code < 600:
                self._set(job, "pending", reply)
                q.done(job, front=True)
                conn.drop()
                self._stop(f"the server refuses the sender {self.mail_from}: {reply}; check [smtp] from")
                return
            self._outcome(conn, job, e.smtp_code, reply, "mail")
            return
        except smtplib.SMTPResponseException as e:  # SMTPDataError and the like
            self._outcome(conn, job, e.smtp_code, _reply(e.smtp_code, e.smtp_error), "data")
            return
        except (smtplib.SMTPException, OSError) as e:  # disconnect, timeout, reset
            conn.drop()
            self._defer(job, f"connection lost: {e or type(e).__name__}"[:300])
            return
        if refused:  # only some recipients refused (never with one recipient per message)
            code, msg = refused.get(job.email, (0, b""))
            self._outcome(conn, job, code, _reply(code, msg), "rcpt")
            return
        self._mark_sent(job)
        with self.stats_lock:
            self.sent_now += 1
        self._finish(job)

    def _finish(self, job: _Job, retry_at: float | None = None) -> None:
        assert self.queue is not None
        if retry_at is None:
            with self.stats_lock:
                self.done += 1
        self.queue.done(job, retry_at)

    def _defer(self, job: _Job, reply: str) -> None:
        retry_at = self._retry_at(job)
        if retry_at is None and job.attempts >= self.policy.max_attempts:
            self._set(job, "failed", f"gave up after {job.attempts} attempts: {reply}"[:300])
        else:
            self._set(job, "deferred", reply)
        self._finish(job, retry_at)

    def _outcome(self, conn: _Connection, job: _Job, code: int, reply: str, stage: str) -> None:
        kind = classify(code, reply, stage)
        if stage == "rcpt" or code in (550, 551, 552, 553):
            with self.stats_lock:
                self.refused[job.email] = reply
        if code == 421 or (conn.smtp is not None and conn.smtp.sock is None):
            conn.drop()  # 421: the server is closing the connection
        if kind == "fatal":
            assert self.queue is not None
            self._set(job, "pending", reply)
            self.queue.done(job, front=True)
            conn.drop()
            self._stop(f"{self.params.where} stopped the batch: {reply}")
        elif kind == "throttle":
            self.pace.slow_down()
            self._defer(job, reply)
        elif kind == "deferred":
            self._defer(job, reply)
        elif kind == "hard_bounce":
            self._bounce(job, reply)
            self._finish(job)
        else:
            self._set(job, "failed", reply)
            self._finish(job)


def _say(progress: Callable[[str], None] | None, msg: str) -> None:
    log.info(msg)
    if progress:
        progress(msg)


def prepare_ledger(store: Store, edition: Edition, subscribers: list[Subscriber], domain: str) -> int:
    """A `pending` row with its own Message-ID for every new subscriber; existing rows keep theirs."""
    assert edition.id is not None
    known = {d.email.lower() for d in store.deliveries(edition.id)}
    new, seen = [], set(known)
    for s in subscribers:
        key = s.email.lower()
        if key not in seen:
            seen.add(key)
            new.append((s.email, s.name, new_message_id(domain)))
    return store.create_deliveries(edition.id, new) if new else 0


def send_edition(
    store: Store, cfg: Config, edition: Edition, subscribers: list[Subscriber],
    progress: Callable[[str], None] | None = None, *, policy: RetryPolicy | None = None,
) -> SendReport:
    """Send what the ledger says is not yet sent; returns the counts. Safe to call again any time.

    `progress` gets one-line messages; if it also has `.advance(done, total)`, that is called as
    messages finish (the CLI draws a progress bar with it).
    """
    from .message import MessageError as _ME
    from .unsubscribe import make_token, secret_from_env

    policy = policy or RetryPolicy()
    if edition.id is None:
        raise DeliveryError(f"edition {edition.date} {edition.profile} is not in the store")
    if not (edition.html or edition.text):
        raise DeliveryError(f"edition {edition.date} {edition.profile} is not rendered yet; run the render stage")
    secret = secret_from_env(cfg)
    if cfg.web.public_url and not secret:
        raise DeliveryError(
            f"[web] public_url is set but the environment variable {cfg.web.unsubscribe_secret_env} is empty; "
            "set it to a long random string so one-click unsubscribe links can be signed"
        )
    token_for = (lambda email: make_token(secret, email, edition.profile)) if secret else None
    try:
        factory = MessageFactory(cfg, edition, token_for=token_for)
    except _ME as e:
        raise DeliveryError(str(e)) from None

    report = SendReport(edition_id=edition.id)
    prepare_ledger(store, edition, subscribers, factory.domain)
    by_email = {s.email.lower(): s for s in subscribers}
    suppressed = store.suppressed()
    jobs: list[_Job] = []
    for d in store.deliveries(edition.id, ["pending", "deferred", "sending"]):
        key = d.email.lower()
        if key in suppressed:
            store.set_delivery(edition.id, d.email, "suppressed", suppressed[key])
        elif key not in by_email:
            store.set_delivery(edition.id, d.email, "suppressed", "no longer in the subscriber files")
        elif d.attempts >= policy.max_attempts:
            store.set_delivery(edition.id, d.email, "failed", f"gave up after {d.attempts} attempts: {d.last_error}")
        else:
            jobs.append(_Job(d.email, by_email[key].name or d.name, d.message_id, d.attempts))
    if not jobs:
        report.totals = store.delivery_counts(edition.id)
        return report

    with ExitStack() as stack:
        if cfg.smtp.host:
            params = _params(cfg)
            where = params.where
        else:
            from .sink import outbox_sink

            outbox = cfg.resolve(cfg.smtp.outbox)
            server = stack.enter_context(outbox_sink(outbox))
            params = _params(cfg, host=server.host, port=server.port)
            where = f"the embedded sink ({outbox})"
        sender = _Sender(store, edition.id, factory, params, factory.sender.addr_spec, cfg.smtp.pool_size,
                         cfg.smtp.rate_per_second, policy, len(jobs))
        _say(progress, f"deliver[{edition.profile}]: {len(jobs)} messages to {where}, "
             f"{min(cfg.smtp.pool_size, len(jobs))} connections")
        advance = getattr(progress, "advance", None)
        last = [time.monotonic()]

        def tick() -> None:
            if advance:
                advance(sender.done, len(jobs))
            elif progress and time.monotonic() - last[0] > 5:
                last[0] = time.monotonic()
                _say(progress, f"deliver[{edition.profile}]: {sender.done}/{len(jobs)} done")

        sender.run(jobs, tick)
        tick()
    report.totals = store.delivery_counts(edition.id)
    report.sent_now, report.throttled, report.refused = sender.sent_now, sender.pace.throttled, sender.refused
    report.reconnects = sender.reconnects
    c = report.counts()
    _say(progress, f"deliver[{edition.profile}]: sent {c['sent']} ({c['sent_now']} now), deferred {c['deferred']}, "
         f"failed {c['failed']}, suppressed {c['suppressed']}, pending {c['pending']}")
    if sender.fatal:
        report.stopped = sender.fatal
        raise DeliveryError(f"sending stopped: {sender.fatal}; {c['pending']} messages kept pending, "
                            "run `newsletter send` again once fixed", report)
    return report


class TerminalProgress:
    """A progress callable for the CLI: lines go to `say`; on a terminal `advance` draws a bar."""

    def __init__(self, say: Callable[[str], None], stream=None):
        import sys

        self.say = say
        self.stream = stream or sys.stderr
        self.bar = None
        self.task = None
        if not self.stream.isatty():
            self.advance = None  # type: ignore[assignment]  # plain lines every few seconds instead

    def __call__(self, msg: str) -> None:
        if self.bar is not None and "sent " in msg:
            self.close()
        self.say(msg)

    def advance(self, done: int, total: int) -> None:
        if self.bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.bar = Progress("sending", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                console=Console(file=self.stream), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("send", total=total)
        self.bar.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
