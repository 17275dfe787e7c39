"""What an SMTP reply means for a message: deliver later, slow down, suppress, give up, or stop the batch.

4xx → deferred (retried); 421 and 4.7.x → throttle (also slow the pool down); 5.1.x (or an
unknown-user 55x at RCPT) → hard bounce (suppress the address); other 5xx → failed; an
authentication failure, 5.4.5 or a sending quota → fatal (stop the batch cleanly).
"""

from __future__ import annotations

import re

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_UNKNOWN_USER = re.compile(r"unknown|no such|does not exist|not exist|not found|invalid (recipient|mailbox|user)")


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


def reply_text(code: int, msg: bytes | str) -> str:
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    return f"{code} {' '.join(text.split())}"[:300]
