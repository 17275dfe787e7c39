"""The mail that comes back: the bounce mailbox read over IMAP (`imap`), each message judged
(`classify`: DSN, ARF, mailto unsubscribe, auto-reply), acted on (`act`: suppress, count, record the
evidence) and recorded once (`process.read_mailbox`, what `newsletter mailbox` runs)."""

from .classify import Verdict, classify
from .process import MailboxReport, read_mailbox

__all__ = ["MailboxReport", "Verdict", "classify", "read_mailbox"]
