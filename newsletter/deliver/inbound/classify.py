"""What one message that came back means: a bounce (hard or soft), a complaint, a mailto unsubscribe,
an auto-reply, or anything else. Pure: bytes in, a `Verdict` out; nothing is looked up or written here.

In order (the first that fits wins):
1. a DSN (RFC 3464: a `message/delivery-status` part, or RFC 6533's global one): one `Bounce` per
   recipient block with its Action, Status and Diagnostic-Code;
2. an ARF report (RFC 5965: a `message/feedback-report` part): feedback-type abuse (or fraud, virus)
   is a complaint, any other type is ignored;
3. a signed unsubscribe token (newsletter.deliver.tokens) in the Subject or in a +address: a mailto
   unsubscribe (the caller verifies it);
4. a bounce without a DSN (qmail, old Exim and Sendmail, Yahoo): sent by MAILER-DAEMON/postmaster or
   with a bounce Subject, and the status or reply code and the address read from its text;
5. an auto-reply (RFC 3834 Auto-Submitted, X-Autoreply, Precedence: auto_reply, out-of-office
   subjects); everything else is "other". Both are ignored and counted.

Hard or soft (`judge`): Action delayed, or a 4.x.x status, is soft. A permanent failure (5.x.x, or
Action failed) is hard, except when the status or the server's words say the address itself is
fine: mailbox full (x.2.2), the message refused for its content, size or the sender's reputation
(x.3.4, x.6.x, x.7.x, "spam", "blocked", "policy"), delivery time expired (x.4.7): those are soft,
so a blocklisted sending IP does not suppress every reader of one provider at once. Words that say
the address does not exist ("user unknown", "no such user", "does not exist"...) make it hard
whatever the status.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message

STATUS_RE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
REPLY_RE = re.compile(r"(?<![\d.#-])([45][0-5]\d)(?:[ -]|$)")
ADDRESS_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{20,}")
NO_SUCH = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient|address)|does not exist|doesn'?t exist|"
    r"not exist|invalid (recipient|mailbox|address|user)|recipient (address )?rejected|address rejected|"
    r"mailbox (unavailable|not found|does not)|no mailbox|unrouteable|unknown recipient|user not found|"
    r"recipient not found|not a valid|account (has been )?(disabled|deleted|closed|suspended)|"
    r"host (or domain name )?not found|domain (not found|does not exist)|name or service not known|"
    r"no such domain|couldn'?t find any host|address unknown|unknown address|"
    r"doesn'?t have a [\w.-]+ account|no longer (active|available)|is disabled|inactive user"
)
FULL = re.compile(r"mailbox (is )?full|over ?quota|quota exceeded|exceeded (the )?(storage|quota)|insufficient storage|"
                  r"mailbox size limit|too much mail")
NOT_THE_ADDRESS = re.compile(r"spam|blocked|invalid ip|blacklist|blocklist|block list|black list|policy|reputation|"
                             r"rate limit|too many|content|message too (big|large)|size limit|dmarc|spf|dkim|"
                             r"authenticat|rejected by|denied|banned|virus|not permitted|refused")
BOUNCE_FROM = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon|mail\.daemon)@", re.I)
BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (status notification|failure|has failed|failed|problem|notification)|"
    r"returned mail|failure notice|mail delivery (failed|system|subsystem)|non[- ]?delivery|"
    r"could not be delivered|delivery failure|message not delivered|permanent error|returned to sender|"
    r"mail system error|warning: could not send", re.I)
AUTO_SUBJECT = re.compile(
    r"out of (the )?office|auto(matic|matische)?[ -]?(reply|response|antwort|r[ée]ponse)|^auto:|"
    r"vacation|abwesenheit|absence|away from (my|the) (desk|office)|自动回复|不在辦公室|不在办公室|自動応答|"
    r"r[ée]ponse automatique|respuesta autom[aá]tica|risposta automatica|on leave|annual leave", re.I)
COMPLAINTS = ("abuse", "fraud", "virus")
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "X-Original-Rcpt-To")
COPY_MARKERS = re.compile(
    r"^(-+ ?(original message|this is a copy|below this line|forwarded message|the header of the original)|"
    r"-+ ?original message follows|--- Below this line|Original message follows|"
    r"------ This is a copy of the message|The original message headers|Received: from|Return-Path:)", re.I | re.M)


@dataclass
class Bounce:
    """One recipient of a bounce: who (when said), what the server said, and hard or soft."""

    email: str
    kind: str  # hard_bounce | soft_bounce | "" (delivered, relayed: nothing to do)
    action: str = ""
    status: str = ""
    diagnostic: str = ""


@dataclass
class Verdict:
    kind: str  # hard_bounce | soft_bounce | complaint | unsubscribe | auto_reply | other | malformed
    why: str  # the evidence in a few words
    message_id: str = ""
    subject: str = ""
    sender: str = ""
    bounces: list[Bounce] = field(default_factory=list)  # bounces; a complaint's complainer
    addressed_to: list[str] = field(default_factory=list)  # where this message was delivered (VERP)
    returned_ids: list[str] = field(default_factory=list)  # Message-IDs of the returned message
    returned_to: list[str] = field(default_factory=list)  # addresses in the returned message's To / Return-Path
    tokens: list[str] = field(default_factory=list)  # signed-token candidates (subject, +addresses, returned headers)
    feedback_type: str = ""


def message_key(raw: bytes, message_id: str) -> str:
    """What identifies a message for "read once": its Message-ID, else a hash of its bytes."""
    return message_id.strip() or "sha256:" + hashlib.sha256(raw).hexdigest()


def text_of(value: object) -> str:
    """A header as one line of text (RFC 2047 words decoded; anything undecodable kept as is)."""
    if value is None:
        return ""
    try:
        out = str(make_header(decode_header(str(value))))
    except (ValueError, LookupError, UnicodeError, TypeError):
        out = str(value)
    return " ".join(out.split())


def addresses(values: list[str]) -> list[str]:
    return [a.lower() for v in values for a in ADDRESS_RE.findall(v or "")]


def judge(action: str, status: str, diagnostic: str) -> str:
    """hard_bounce | soft_bounce | "" for one recipient, from Action, Status and the server's words."""
    action = action.lower().strip()
    if action in ("delivered", "relayed", "expanded"):
        return ""
    words = diagnostic.lower()
    m = STATUS_RE.search(status) or STATUS_RE.search(diagnostic)
    reply = REPLY_RE.search(diagnostic)
    klass = m.group(1) if m else (reply.group(1)[0] if reply else "")
    if action == "delayed" or klass == "4":
        return "soft_bounce"
    if klass != "5" and action != "failed":
        return ""
    detail = (m.group(2), m.group(3)) if m else ("", "")
    if FULL.search(words) or detail in (("2", "2"), ("2", "3")):  # the mailbox exists: full, or the message too big
        return "soft_bounce"
    if NO_SUCH.search(words):
        return "hard_bounce"
    if detail[0] == "1":  # addressing: the recipient's address is bad, unless it is ours (x.1.7, x.1.8)
        return "soft_bounce" if detail[1] in ("7", "8") else "hard_bounce"
    if detail in (("3", "4"), ("4", "7")) or detail[0] in ("6", "7") or NOT_THE_ADDRESS.search(words):
        return "soft_bounce"
    return "hard_bounce"


def walk(msg: Message) -> list[Message]:
    try:
        return list(msg.walk())
    except (TypeError, AttributeError):
        return [msg]


def returned_headers(msg: Message) -> list[Message]:
    """The returned message's headers: a message/rfc822 (or global) part, or text/rfc822-headers."""
    out: list[Message] = []
    for part in walk(msg):
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global") and part.is_multipart():
            out += [p for p in part.get_payload() if isinstance(p, Message)][:1]
        elif ctype in ("text/rfc822-headers", "message/global-headers", "message/rfc822-headers"):
            payload = part.get_payload(decode=True) or b""
            out.append(email.message_from_bytes(payload.lstrip(), policy=email.policy.compat32))
    return out


def body_text(msg: Message, limit: int = 20000) -> str:
    """The message's own text (its text/plain parts before any returned message), decoded."""
    chunks = []
    for part in walk(msg):
        if part.get_content_type() in ("message/rfc822", "message/global"):
            break
        if part.get_content_maintype() == "text" and part.get_content_type() != "text/rfc822-headers":
            data = part.get_payload(decode=True) or b""
            charset = part.get_content_charset() or "utf-8"
            try:
                chunks.append(data.decode(charset, "replace"))
            except LookupError:
                chunks.append(data.decode("utf-8", "replace"))
        if sum(len(c) for c in chunks) > limit:
            break
    return "\n".join(chunks)[:limit]


def dsn_blocks(msg: Message) -> list[Message] | None:
    """The delivery-status blocks (per-message first, then one per recipient), or None when none."""
    for part in walk(msg):
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return [p for p in payload if isinstance(p, Message)]
            data = part.get_payload(decode=True) or b""
            text = data.decode("utf-8", "replace").replace("\r\n", "\n")
            return [email.message_from_string(b.strip() + "\n", policy=email.policy.compat32)
                    for b in re.split(r"\n\s*\n", text) if b.strip()]
    return None


def _field(block: Message, name: str) -> str:
    value = block.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _address_field(value: str) -> str:
    """'rfc822; <a@b.org>' -> 'a@b.org'."""
    found = ADDRESS_RE.findall(value.split(";", 1)[-1]) or ADDRESS_RE.findall(value)
    return found[0].lower() if found else ""


def from_dsn(blocks: list[Message], msg: Message, returned_to: list[str]) -> list[Bounce]:
    out = []
    for b in blocks:
        rcpt = _address_field(_field(b, "Final-Recipient")) or _address_field(_field(b, "Original-Recipient"))
        if not rcpt and _field(b, "Final-Recipient") and len(returned_to) == 1:
            rcpt = returned_to[0]  # "Final-Recipient: rfc822; @host": the returned message says whom
        action, status = _field(b, "Action").lower(), _field(b, "Status")
        if not (rcpt or action or status):
            continue  # the per-message block (Reporting-MTA, Arrival-Date...)
        diagnostic = _field(b, "Diagnostic-Code").split(";", 1)[-1].strip()
        if not diagnostic and len(blocks) <= 3:  # some MTAs say it only in the text part
            diagnostic = " ".join(body_text(msg, 2000).split())[:500]
        m = STATUS_RE.search(status)
        out.append(Bounce(rcpt, judge(action, status, diagnostic), action, m.group(0) if m else status[:20],
                          diagnostic[:500]))
    return out


def from_text(msg: Message, ours: list[str]) -> list[Bounce]:
    """A bounce without a DSN: addresses and codes read from its text (before the returned copy)."""
    text = body_text(msg)
    cut = COPY_MARKERS.search(text)
    head = text[: cut.start()] if cut and cut.start() > 40 else text
    failed = addresses([str(v) for v in msg.get_all("X-Failed-Recipients") or []])
    found = failed or [a for a in addresses([head]) if a not in ours and not BOUNCE_FROM.match(a)]
    words = " ".join(head.split())
    m = STATUS_RE.search(words)
    reply = REPLY_RE.search(words)
    status = m.group(0) if m else ""
    lowered = words.lower()
    if not (m or reply):
        if re.search(r"temporar|delayed|will (be )?retr|still trying|not yet been delivered|deferred", lowered):
            status = "4.0.0"
        elif re.search(r"permanent|could not be delivered|unable to deliver|failed|undeliverable|no such", lowered):
            status = "5.0.0"
    kind = judge("failed" if status.startswith("5") or (reply and reply.group(1)[0] == "5") else "", status,
                 words[:2000])
    if not kind:
        return []
    diagnostic = (words[max(0, (m or reply).start() - 200):][:500]) if (m or reply) else words[:500]
    return [Bounce(a, kind, "failed" if kind == "hard_bounce" else "delayed", status, diagnostic)
            for a in dict.fromkeys(found)] or [Bounce("", kind, "", status, diagnostic)]


def _feedback(msg: Message) -> dict[str, str] | None:
    for part in walk(msg):
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            if isinstance(payload, list):
                block = payload[0] if payload else Message()
            else:
                data = part.get_payload(decode=True) or b""
                block = email.message_from_bytes(data.lstrip(), policy=email.policy.compat32)
            return {k.lower(): " ".join(str(v).split()) for k, v in block.items()}
    return None


def from_ses(msg: Message) -> tuple[list[Bounce], str] | None:
    """Amazon SES's notifications mailed through SNS: a JSON body with notificationType Bounce
    (Permanent = hard, else soft), Complaint or Delivery; None when the message is not one."""
    text = re.sub(r"!\r?\n ", "", body_text(msg, 200000))  # over-long lines folded by an MTA ("!" + newline)
    start = text.find('{"notificationType"')
    if start < 0:
        start = text.find("{")
        if start < 0 or '"notificationType"' not in text:
            return None
    try:
        data, _ = json.JSONDecoder().raw_decode(text[start:])
    except ValueError:
        return None
    data = json.loads(data["Message"]) if isinstance(data.get("Message"), str) else data
    kind = str(data.get("notificationType", "")).lower()
    if kind == "complaint":
        got = data.get("complaint", {})
        return ([Bounce(str(r.get("emailAddress", "")).lower(), "complaint") for r in got.get("complainedRecipients", [])],
                f"Amazon SES complaint ({got.get('complaintFeedbackType', 'abuse')})")
    if kind == "bounce":
        got = data.get("bounce", {})
        hard = got.get("bounceType") == "Permanent"
        out = []
        for r in got.get("bouncedRecipients", []):
            said = str(r.get("diagnosticCode", ""))
            status = str(r.get("status", ""))
            kind = judge("failed", status, said) if hard else "soft_bounce"
            out.append(Bounce(str(r.get("emailAddress", "")).lower(), kind or "soft_bounce", "failed", status, said[:500]))
        return out, f"Amazon SES bounce ({got.get('bounceType')}/{got.get('bounceSubType')})"
    return [], f"Amazon SES notification {kind or '(unknown)'}: nothing to do"


def auto_reply(msg: Message, subject: str) -> str:
    """Why this is an auto-reply ("" when it is not)."""
    auto = _field(msg, "Auto-Submitted").lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response", "X-Autoresponder"):
        if msg.get(name) is not None:
            return name
    if _field(msg, "Precedence").lower() == "auto_reply":
        return "Precedence: auto_reply"
    if AUTO_SUBJECT.search(subject):
        return f"Subject {subject[:60]!r}"
    return ""


def classify(raw: bytes, ours: list[str] | None = None) -> Verdict:
    """What the message is, with its evidence. `ours`: our own addresses (From, bounce, unsubscribe),
    never taken for a bouncing recipient. Never raises: a message that cannot be read is "malformed"."""
    ours = [a.lower() for a in ours or []]
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        if not msg.keys():
            return Verdict("malformed", "no headers")
        return _classify(msg, ours)
    except Exception as e:  # noqa: BLE001 - any parser failure on hostile input is one "malformed" line
        return Verdict("malformed", f"cannot be parsed: {type(e).__name__}: {str(e)[:120]}")


def _classify(msg: Message, ours: list[str]) -> Verdict:
    subject = text_of(msg.get("Subject"))
    sender = (addresses([text_of(msg.get("From"))]) or [""])[0]
    v = Verdict("other", "", message_id=_field(msg, "Message-ID"), subject=subject[:200], sender=sender)
    v.addressed_to = addresses([str(x) for h in RECIPIENT_HEADERS for x in msg.get_all(h) or []])
    for h in returned_headers(msg):
        v.returned_ids += [_field(h, "Message-ID")] if h.get("Message-ID") else []
        v.returned_to += addresses([str(h.get("To") or ""), str(h.get("Return-Path") or "")])
        v.tokens += TOKEN_RE.findall(str(h.get("List-Unsubscribe") or ""))
    blocks = dsn_blocks(msg)
    if blocks is not None:
        v.bounces = [b for b in from_dsn(blocks, msg, [a for a in v.returned_to if a not in ours]) if b.kind]
        return _bounce_kind(v, "DSN")
    report = _feedback(msg)
    if report is not None:
        v.feedback_type = report.get("feedback-type", "").lower()
        rcpt = addresses([report.get("original-rcpt-to", ""), report.get("removal-recipient", "")])
        v.bounces = [Bounce(a, "complaint") for a in rcpt]
        if v.feedback_type in COMPLAINTS:
            v.kind, v.why = "complaint", f"ARF feedback-type {v.feedback_type}"
        else:
            v.why = f"ARF feedback-type {v.feedback_type or '(none)'}: not a complaint"
        return v
    ses = from_ses(msg)
    if ses is not None:
        v.bounces, v.why = ses
        if v.bounces and v.bounces[0].kind == "complaint":
            v.kind = "complaint"
            return v
        return _bounce_kind(v, "Amazon SES notification") if v.bounces else v
    own = TOKEN_RE.findall(subject)
    plus = [a.split("@")[0].split("+", 1)[1] for a in v.addressed_to if "+" in a.split("@")[0]]
    if own or any(TOKEN_RE.fullmatch(p) for p in plus):
        v.tokens = own + [p for p in plus if TOKEN_RE.fullmatch(p)]
        v.kind, v.why = "unsubscribe", "a signed token in the " + ("Subject" if own else "address")
        return v
    if BOUNCE_FROM.match(sender) or BOUNCE_SUBJECT.search(subject) or msg.get("X-Failed-Recipients"):
        v.bounces = from_text(msg, ours + v.addressed_to)
        if v.bounces:
            return _bounce_kind(v, "bounce without a DSN")
    why = auto_reply(msg, subject)
    if why:
        v.kind, v.why = "auto_reply", why
        return v
    v.why = f"from {sender or '(nobody)'}: {subject[:60]!r}"
    return v


def _bounce_kind(v: Verdict, what: str) -> Verdict:
    kinds = {b.kind for b in v.bounces}
    if "hard_bounce" in kinds:
        v.kind = "hard_bounce"
    elif "soft_bounce" in kinds:
        v.kind = "soft_bounce"
    else:
        v.why = f"{what} reporting no failure (delivered or relayed)"
        return v
    first = next(b for b in v.bounces if b.kind == v.kind)
    v.why = f"{what}: {first.action or 'failed'} {first.status}".strip()
    return v
