"""`newsletter mailbox`: read the new messages of the bounce mailbox once, act on each, mark it read.

Exactly once, across crashes: each message is judged (classify), then its decision, its bounce
events and any suppression are committed in ONE transaction together with its key (Message-ID, or a
hash of the bytes) in `inbound_messages`, and only then flagged (or moved) on the server. A run
killed before the commit leaves nothing behind, and the message is still new; killed after it, the
next run finds the key, changes nothing and only flags it. A message whose key is already recorded
is never counted again, whichever mailbox or folder it shows up in. A stop request (SIGTERM) ends
the batch after the message in hand.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from ... import stop
from ...config import Config
from ...errors import UsageError
from ...progress import Progress, emit
from ...store import Store
from ..send import bounce_address
from ..tokens import secret_from_env
from .act import READABLE, Context, act, evidence
from .classify import classify, message_key
from .imap import Mailbox

log = logging.getLogger(__name__)


@dataclass
class MailboxReport:
    where: str
    read: int = 0  # messages judged and recorded by this run
    known: int = 0  # messages already recorded (a run stopped between recording and flagging)
    kinds: Counter = field(default_factory=Counter)
    suppressed: list[str] = field(default_factory=list)
    unsubscribed: list[str] = field(default_factory=list)
    stopped: bool = False

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{READABLE[k]} {self.kinds.get(k, 0)}" for k in READABLE)
        out = [f"mailbox {self.where}: read {self.read} new ({kinds})"
               + (f"; {self.known} already recorded, only marked read" if self.known else "")]
        if self.suppressed:
            out.append(f"suppressed {len(self.suppressed)}: " + ", ".join(self.suppressed))
        if self.unsubscribed:
            out.append(f"unsubscribed {len(self.unsubscribed)}: " + ", ".join(self.unsubscribed))
        if self.stopped:
            out.append("stopped on request; the rest is read by the next run")
        return out


def ours(cfg: Config) -> list[str]:
    """Our own addresses, never taken for a recipient that bounced."""
    found = [bounce_address(cfg)]
    for raw in (cfg.smtp.from_, cfg.mailbox.unsubscribe_address):
        found += [a for a in raw.replace("<", " ").replace(">", " ").split() if "@" in a]
    return [a.lower() for a in found]


def handle(ctx: Context, raw: bytes, message_id: str, report: MailboxReport) -> bool:
    """Judge and record one message; False when it was recorded before (nothing changes)."""
    key = message_key(raw, message_id)
    if ctx.store.inbound_known(key):
        return False
    verdict = classify(raw, ours(ctx.cfg))
    if verdict.kind == "malformed":
        log.warning("mailbox: message %s is malformed (%s); recorded and ignored", key[:80], verdict.why)
    with ctx.store.transaction():
        if ctx.store.inbound_known(key):  # another reader got there first
            return False
        acted = act(ctx, verdict, key)
        ctx.store.record_inbound(evidence(verdict, key, acted))
    report.kinds[verdict.kind] += 1
    report.suppressed += acted.suppressed
    if verdict.kind == "unsubscribe" and acted.list:
        report.unsubscribed.append(f"{acted.email} from {acted.list}")
    for line in acted.lines:
        log.info("mailbox: %s: %s", READABLE.get(verdict.kind, verdict.kind), line)
    return True


def read_mailbox(store: Store, cfg: Config, progress: Progress | None = None) -> MailboxReport:
    """Read every new message of `[mailbox] folder` once; see the module's docstring for the guarantees."""
    if not cfg.mailbox.host:
        raise UsageError("[mailbox] host is empty: set [mailbox] (host, username, password_env, folder) to read "
                         "the bounce mailbox")
    ctx = Context(store, cfg, secret_from_env(cfg), bounce_address(cfg))
    with Mailbox(cfg) as box:
        report = MailboxReport(where=f"{box.where} {cfg.mailbox.folder}")
        uids = box.new_uids()
        emit(progress, "mailbox", f"mailbox: {len(uids)} new message(s) in {report.where}")
        for n, uid in enumerate(uids, start=1):
            if stop.stop_requested():
                report.stopped = True
                break
            mid = box.message_id(uid)
            if mid and store.inbound_known(mid):
                report.known += 1
            else:
                raw = box.fetch(uid)
                if raw is None:
                    continue
                if handle(ctx, raw, mid or "", report):
                    report.read += 1
                else:
                    report.known += 1
            box.done(uid)
            emit(progress, "mailbox", done=n, total=len(uids))
    return report
