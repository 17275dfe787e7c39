"""The worker pool of one send: each thread owns one SMTP connection and takes jobs from the queue.

Workers build each message from the edition's MessageFactory, mark it `sending` in the ledger
before DATA, and act on the server's reply (see replies.classify): retry later with backoff,
slow the pool down, suppress a hard bounce, or stop the batch cleanly. A stop request (SIGTERM)
lets the messages in flight finish and leaves the rest pending.
"""

from __future__ import annotations

import logging
import random
import smtplib
import threading
import time
from collections.abc import Callable

from .. import stop
from ..store import Store
from .connection import ConnectFailed, Connection, Fatal, SMTPParams
from .ledger import Ledger
from .message import MessageError, MessageFactory
from .pacing import Job, JobQueue, Pace, RetryPolicy
from .replies import classify, reply_text

log = logging.getLogger(__name__)


class Sender:
    """The worker pool for one edition: each thread owns one connection and takes jobs."""

    def __init__(
        self, store: Store, edition_id: int, factory: MessageFactory, params: SMTPParams, mail_from: str,
        pool_size: int, rate: float, policy: RetryPolicy, total: int,
    ):
        self.ledger = Ledger(store, edition_id)
        self.factory, self.params = factory, params
        self.mail_from, self.pool_size, self.policy, self.total = mail_from, pool_size, policy, total
        self.pace = Pace(rate, policy)
        self.stats_lock = threading.Lock()
        self.stop_event = threading.Event()
        self.queue: JobQueue | None = None
        self.fatal = ""
        self.connect_failures = 0
        self.done = 0
        self.sent_now = 0
        self.reconnects = 0
        self.refused: dict[str, str] = {}

    # -- the pool --------------------------------------------------------------------------

    def run(self, jobs: list[Job], tick: Callable[[], None] | None = None) -> None:
        self.queue = JobQueue(jobs)
        threads = [
            threading.Thread(target=self._worker, name=f"smtp-{i}", daemon=True)
            for i in range(min(self.pool_size, len(jobs)))
        ]
        for t in threads:
            t.start()
        try:
            self._join(threads, tick)
        finally:
            self.ledger.flush()

    def _join(self, threads: list[threading.Thread], tick: Callable[[], None] | None) -> None:
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.25)
                    if stop.stop_requested() and not self.stop_event.is_set():  # wake paced/backing-off workers
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
        conn = Connection(self.params)
        assert self.queue is not None
        try:
            while (job := self.queue.get()) is not None:
                try:
                    self._one(conn, job)
                except Exception as e:  # a bug must not leave the pool hanging
                    log.exception("unexpected error while sending to %s", job.email)
                    self.ledger.set(job.email, "pending", f"internal error: {e}"[:300])
                    self.queue.done(job)
                    self._stop(f"internal error while sending: {e!r}")
        finally:
            conn.close()

    def _retry_at(self, job: Job) -> float | None:
        """When to try again in this run, or None to leave it to the next run."""
        if job.tries >= self.policy.run_attempts or job.attempts >= self.policy.max_attempts:
            return None
        wait = min(self.policy.backoff * 2 ** (job.tries - 1), self.policy.max_backoff)
        return time.monotonic() + wait * random.uniform(0.8, 1.2)

    def _connect(self, conn: Connection, job: Job) -> bool:
        """Open the worker's connection; on failure the job goes back to the queue (False)."""
        q = self.queue
        assert q is not None
        try:
            conn.open()
        except Fatal as e:
            q.done(job, front=True)
            self._stop(str(e))
            return False
        except ConnectFailed as e:
            with self.stats_lock:
                self.connect_failures += 1
                n = self.connect_failures
            q.done(job, front=True)
            if n >= self.policy.connect_failures:
                self._stop(f"{e} (failed {n} times in a row)")
            else:
                self.stop_event.wait(min(self.policy.backoff * n, self.policy.max_backoff))
            return False
        with self.stats_lock:
            self.connect_failures = 0
            self.reconnects += 1
        return True

    def _one(self, conn: Connection, job: Job) -> None:
        """Send one job's message and act on the reply (mark sending first: the in-flight mark)."""
        q = self.queue
        assert q is not None
        self.pace.wait(self.stop_event)
        if stop.stop_requested():  # SIGTERM/SIGINT: no new message; the ones in flight finish
            self.stop_event.set()
            q.stop()
        if self.stop_event.is_set():
            q.done(job, front=True)
            return
        if conn.smtp is None and not self._connect(conn, job):
            return
        eightbit = conn.smtp.has_extn("8bitmime")  # learnt at EHLO: 8bit parts are then allowed
        try:
            data = self.factory.build(job.email, job.name, job.message_id, eightbit)
        except MessageError as e:
            self.ledger.set(job.email, "failed", str(e)[:300])
            self._finish(job)
            return
        options: list[str] = ["BODY=8BITMIME"] if eightbit else []
        mail_from = self.factory.envelope_for(job.email)  # VERP: a return path naming this delivery
        if not (job.email.isascii() and mail_from.isascii()):
            options.append("SMTPUTF8")
        job.tries += 1
        job.attempts += 1
        self.ledger.set(job.email, "sending", "", attempt=True)  # committed before DATA: the in-flight mark
        try:
            refused = conn.smtp.sendmail(mail_from, [job.email], data, mail_options=options)
        except smtplib.SMTPRecipientsRefused as e:
            code, msg = e.recipients.get(job.email, (451, b"recipient refused"))
            self._outcome(conn, job, code, reply_text(code, msg), "rcpt")
            return
        except smtplib.SMTPSenderRefused as e:
            reply = reply_text(e.smtp_code, e.smtp_error)
            if 500 <= e.smtp_code < 600:
                self.ledger.set(job.email, "pending", reply)
                q.done(job, front=True)
                conn.drop()
                self._stop(f"the server refuses the sender {self.mail_from}: {reply}; "
                           "check [smtp] from and [mailbox] bounce_address")
                return
            self._outcome(conn, job, e.smtp_code, reply, "mail")
            return
        except smtplib.SMTPResponseException as e:  # SMTPDataError and the like
            self._outcome(conn, job, e.smtp_code, reply_text(e.smtp_code, e.smtp_error), "data")
            return
        except (smtplib.SMTPException, OSError) as e:  # disconnect, timeout, reset
            conn.drop()
            self._defer(job, f"connection lost: {e or type(e).__name__}"[:300])
            return
        if refused:  # only some recipients refused (never with one recipient per message)
            code, msg = refused.get(job.email, (0, b""))
            self._outcome(conn, job, code, reply_text(code, msg), "rcpt")
            return
        self.ledger.mark_sent(job.email)
        with self.stats_lock:
            self.sent_now += 1
        self._finish(job)

    def _finish(self, job: Job, retry_at: float | None = None) -> None:
        assert self.queue is not None
        if retry_at is None:
            with self.stats_lock:
                self.done += 1
        self.queue.done(job, retry_at)

    def _defer(self, job: Job, reply: str) -> None:
        retry_at = self._retry_at(job)
        if retry_at is None and job.attempts >= self.policy.max_attempts:
            self.ledger.set(job.email, "failed", f"gave up after {job.attempts} attempts: {reply}"[:300])
        else:
            self.ledger.set(job.email, "deferred", reply)
        self._finish(job, retry_at)

    def _outcome(self, conn: Connection, job: Job, code: int, reply: str, stage: str) -> None:
        kind = classify(code, reply, stage)
        if stage == "rcpt" or code in (550, 551, 552, 553):
            with self.stats_lock:
                self.refused[job.email] = reply
        if code == 421 or (conn.smtp is not None and conn.smtp.sock is None):
            conn.drop()  # 421: the server is closing the connection
        if kind == "fatal":
            assert self.queue is not None
            self.ledger.set(job.email, "pending", reply)
            self.queue.done(job, front=True)
            conn.drop()
            self._stop(f"{self.params.where} stopped the batch: {reply}")
        elif kind == "throttle":
            self.pace.slow_down()
            self._defer(job, reply)
        elif kind == "deferred":
            self._defer(job, reply)
        elif kind == "hard_bounce":
            self.ledger.bounce(job.email, reply)
            self._finish(job)
        else:
            self.ledger.set(job.email, "failed", reply)
            self._finish(job)
