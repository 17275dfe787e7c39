"""Send an edition to its subscribers: the ledger says who still needs it, the pool sends it.

Safe to call again at any time: what the ledger records as sent is never sent again (see
ledger.py for the exactly-once argument, replies.py for what each SMTP reply leads to).
Authentication failure, sending quota, an unverifiable certificate or an unreachable server
stop the batch cleanly (in-flight messages finish, the rest stays pending) and raise
DeliveryError; the CLI exits 1 with its message.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

from ..assembly import PartsError
from ..config import Config
from ..errors import DeliveryError
from ..models import Edition, Subscriber
from ..progress import Progress, emit
from ..store import Store
from ..wording import plural
from .connection import SMTPParams, smtp_params
from .ledger import jobs_to_send, prepare_ledger
from .message import MessageError, MessageFactory, parse_address
from .pacing import RetryPolicy
from .sender import Sender
from .tokens import (
    feedback_signer,
    feedback_url,
    make_token,
    make_verp_token,
    secret_from_env,
    verp_address,
)

log = logging.getLogger(__name__)


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

def smtp_target(stack: ExitStack, cfg: Config) -> tuple[SMTPParams, str]:
    """The configured relay, or (no [smtp] host) the embedded sink started for the `with` block."""
    if cfg.smtp.host:
        params = smtp_params(cfg)
        return params, params.where
    from .sink import outbox_sink

    outbox = cfg.resolve(cfg.smtp.outbox)
    server = stack.enter_context(outbox_sink(outbox))
    return smtp_params(cfg, host=server.host, port=server.port), f"the embedded sink ({outbox})"


def message_factory(cfg: Config, edition: Edition, picks: dict[str, list[str]] | None = None) -> MessageFactory:
    """The edition's constant message parts, with signed unsubscribe links when a secret is set,
    and each reader's own issue from `picks` (email -> paper ids) with signed feedback links
    when `[web] public_url` is set too."""
    secret = secret_from_env(cfg)
    if cfg.web.public_url and not secret:
        raise DeliveryError(
            f"[web] public_url is set but the environment variable {cfg.web.unsubscribe_secret_env} is empty; "
            "set it to a long random string so one-click unsubscribe links can be signed"
        )
    token_for = (lambda email: make_token(secret, email, edition.profile)) if secret else None
    feedback_for = None
    if secret and cfg.web.public_url:
        base, sign, profile = feedback_url(cfg.web.public_url, ""), feedback_signer(secret), edition.profile

        def feedback_for(email: str, paper_id: str, vote: int) -> str:
            return base + sign(email, profile, paper_id, vote)

    try:
        return MessageFactory(cfg, edition, token_for=token_for, picks=picks, feedback_for=feedback_for,
                              envelope_for=envelope_sender(cfg, edition, secret))
    except MessageError as e:
        raise DeliveryError(str(e)) from None
    except PartsError as e:
        raise DeliveryError(f"edition {edition.date} {edition.profile}: readers' issues cannot be assembled from "
                            f"its stored parts ({e}); it was rendered by another version of newsletter") from None


def bounce_address(cfg: Config) -> str:
    """Where bounces go (the envelope sender without VERP): [mailbox] bounce_address, else the From address."""
    raw = cfg.mailbox.bounce_address or cfg.smtp.from_
    return parse_address(raw, "[mailbox] bounce_address" if cfg.mailbox.bounce_address else "[smtp] from").addr_spec


def verp_on(cfg: Config, secret: bytes | None) -> bool:
    """VERP needs a mailbox to read the bounces from, `[mailbox] verp` and the secret that signs the tokens."""
    return bool(cfg.mailbox.host and cfg.mailbox.verp and secret)


def envelope_sender(cfg: Config, edition: Edition, secret: bytes | None) -> Callable[[str], str]:
    """The envelope sender of each reader's message: `bounces+<token>@domain` naming the delivery
    (VERP), or the same bounce address for everyone."""
    base = bounce_address(cfg)
    if not verp_on(cfg, secret) or edition.id is None:
        return lambda email: base
    edition_id = edition.id

    def verp(email: str) -> str:
        return verp_address(base, make_verp_token(secret, edition_id, email))

    return verp


def send_edition(
    store: Store, cfg: Config, edition: Edition, subscribers: list[Subscriber],
    progress: Progress | None = None, *, policy: RetryPolicy | None = None,
) -> SendReport:
    """Send what the ledger says is not yet sent; returns the counts. Safe to call again any time."""
    policy = policy or RetryPolicy()
    if edition.id is None:
        raise DeliveryError(f"edition {edition.date} {edition.profile} is not in the store")
    if not (edition.html or edition.text):
        raise DeliveryError(f"edition {edition.date} {edition.profile} is not rendered yet; run the render stage")
    factory = message_factory(cfg, edition, store.get_picks(edition.id))
    report = SendReport(edition_id=edition.id)
    prepare_ledger(store, edition, subscribers, factory.domain)
    jobs = jobs_to_send(store, edition.id, subscribers, policy, edition.profile)
    if not jobs:
        report.totals = store.delivery_counts(edition.id)
        return report

    stage, who = "deliver", edition.profile
    with ExitStack() as stack:
        params, where = smtp_target(stack, cfg)
        sender = Sender(store, edition.id, factory, params, bounce_address(cfg), cfg.smtp.pool_size,
                        cfg.smtp.rate_per_second, policy, len(jobs))
        emit(progress, stage, f"deliver[{who}]: {plural(len(jobs), 'message')} to {where}, "
             f"{min(cfg.smtp.pool_size, len(jobs))} connections", profile=who)

        def tick() -> None:
            emit(progress, stage, done=sender.done, total=len(jobs), profile=who)

        sender.run(jobs, tick)
        tick()
    report.totals = store.delivery_counts(edition.id)
    report.sent_now, report.throttled, report.refused = sender.sent_now, sender.pace.throttled, sender.refused
    report.reconnects = sender.reconnects
    c = report.counts()
    emit(progress, stage, f"deliver[{who}]: sent {c['sent']} ({c['sent_now']} now), deferred {c['deferred']}, "
         f"failed {c['failed']}, suppressed {c['suppressed']}, pending {c['pending']}", profile=who)
    if sender.fatal:
        report.stopped = sender.fatal
        raise DeliveryError(f"sending stopped: {sender.fatal}; {plural(c['pending'], 'message')} kept pending, "
                            "run `newsletter send` again once fixed", report)
    return report


def send_test_copy(cfg: Config, edition: Edition, email: str) -> str:
    """One copy of the edition to `email`, outside the ledger (nobody else is mailed, nothing is
    recorded as sent): to see the issue in a real mailbox before going live. It is the whole
    edition (every entry), not any reader's own selection. Returns where it went."""
    from .connection import ConnectFailed, Connection, Fatal
    from .message import new_message_id

    factory = message_factory(cfg, edition)
    with ExitStack() as stack:
        params, where = smtp_target(stack, cfg)
        conn = Connection(params)
        try:
            conn.open()
            eightbit = conn.smtp.has_extn("8bitmime")
            data = factory.build(email, "", new_message_id(factory.domain), eightbit)
            conn.smtp.sendmail(bounce_address(cfg), [email], data,
                               mail_options=["BODY=8BITMIME"] if eightbit else [])
        except (Fatal, ConnectFailed) as e:
            raise DeliveryError(f"test copy not sent: {e}") from None
        except smtplib.SMTPException as e:
            raise DeliveryError(f"test copy not sent: {e}") from None
        finally:
            conn.close()
    return where
