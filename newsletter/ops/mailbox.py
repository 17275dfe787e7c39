"""`newsletter mailbox` and the scheduler's reads of the bounce mailbox (before each run, and hourly).

The work is `deliver.inbound.read_mailbox`; here are the shells: SIGTERM/SIGINT finish the message
in hand (the command), and the scheduled read that never raises (a failure is one log line, the
scheduler goes on) and never waits for another reader (`var/mailbox.lock`).
"""

from __future__ import annotations

import logging

from ..config import Config
from ..deliver.inbound import MailboxReport, read_mailbox
from ..errors import NewsletterError
from ..progress import Progress
from ..store import Store
from . import shutdown
from .lock import LockHeld, hold, mailbox_lock_path

log = logging.getLogger(__name__)


def run_mailbox(store: Store, cfg: Config, progress: Progress | None = None) -> MailboxReport:
    """The command: read once; a signal ends the batch after the message in hand."""
    shutdown.reset()
    with shutdown.graceful():
        return read_mailbox(store, cfg, progress)


def scheduled_mailbox(cfg: Config, why: str = "hourly") -> MailboxReport | None:
    """A scheduled read (hourly, or before a run): never raises; skipped when [mailbox] is not set
    or another reader holds the lock."""
    if not cfg.mailbox.host or shutdown.stop_requested():
        return None
    try:
        with hold(mailbox_lock_path(cfg.var_dir), f"newsletter schedule (mailbox, {why})"):
            store = Store.open(cfg.store_path)
            try:
                report = read_mailbox(store, cfg)
            finally:
                store.close()
    except LockHeld as e:
        log.info("mailbox read (%s) skipped: %s", why, e)
        return None
    except NewsletterError as e:
        log.error("mailbox read (%s) failed: %s; see `newsletter mailbox`", why, e)
        return None
    except Exception:
        log.exception("mailbox read (%s) failed", why)
        return None
    for line in report.lines():
        log.info("mailbox (%s): %s", why, line)
    return report
