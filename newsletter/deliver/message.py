"""One email per recipient, built from the already rendered edition (never re-rendered).

`MessageFactory` is made once per edition: it checks and encodes everything that is the same
for every reader (From, Subject, List-Id, attachments). `build(...)` then makes the recipient's
`EmailMessage` (SMTP policy) with its own To, Message-ID, List-Unsubscribe and personalised
text and HTML. For speed the big parts are base64-encoded with the C codec and spliced into the
message the email package serialised around small placeholders, which yields the same bytes as
`set_content(..., cte="base64")` at a fraction of the cost (see `build_message` for the plain way
and tests/test_deliver_message.py for the proof they agree).

Header injection: every value that comes from data (names, titles, addresses, URLs) goes
through `clean_header`, which turns CR, LF and other control characters into spaces, and
addresses are validated; the email package then folds and encodes them.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8, Policy
from email.utils import formatdate, getaddresses, make_msgid
from urllib.parse import quote

from ..config import Config
from ..errors import UsageError
from ..models import Attachment, Edition
from ..placeholders import personalize
from .tokens import unsubscribe_url

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")


class MessageError(UsageError):
    """A configured or stored value cannot go into a header (e.g. a malformed From)."""


def clean_header(value: str) -> str:
    """One line, no control characters: what may go into a header from data."""
    return _CONTROL.sub(" ", value or "").strip()


def parse_address(value: str, what: str) -> Address:
    """One `Name <addr>` from config, checked; MessageError names the setting."""
    if any(c in value for c in "\r\n\x00"):
        raise MessageError(f"{what}: must be one line")
    pairs = getaddresses([value])
    if len(pairs) != 1 or "@" not in pairs[0][1]:
        raise MessageError(f"{what}: {value!r} is not one address like 'Name <user@example.org>'")
    name, addr = pairs[0]
    local, _, domain = addr.rpartition("@")
    try:
        return Address(display_name=clean_header(name), username=local, domain=domain)
    except (ValueError, IndexError) as e:
        raise MessageError(f"{what}: {value!r} is not a valid address ({e})") from None


def new_message_id(domain: str) -> str:
    """Unique per recipient and stable once stored in the ledger (a resend reuses it)."""
    return make_msgid(idstring=uuid.uuid4().hex[:12], domain=domain)


def _canonical(text: str) -> bytes:
    """UTF-8 with CRLF line ends and a final one: MIME's canonical text form."""
    return b"\r\n".join(text.encode("utf-8").splitlines()) + b"\r\n"


def _b64_block(data: bytes) -> bytes:
    """Base64 in 76-character CRLF lines, as the email package writes it."""
    b64 = base64.b64encode(data)
    return b"".join([b64[i : i + 76] + b"\r\n" for i in range(0, len(b64), 76)])


class MessageFactory:
    """Everything constant for one edition, computed once; `build` makes one recipient's bytes."""

    def __init__(
        self, cfg: Config, edition: Edition, *, attachments: list[Attachment] | None = None,
        token_for: Callable[[str], str | None] | None = None,
    ):
        self.cfg = cfg
        self.edition = edition
        self.sender = parse_address(cfg.smtp.from_, "[smtp] from")
        self.reply_to = parse_address(cfg.smtp.reply_to, "[smtp] reply_to") if cfg.smtp.reply_to else None
        self.domain = self.sender.domain
        # Subject: the profile's title (readers never see the internal name), "arXiv", the date and
        # the number of papers ("1 paper", "10 papers", "10 篇论文"); the count is left out when
        # the edition was loaded without its papers. List-Id stays the same every day.
        title = clean_header(edition.title) or "arXiv"
        day = edition.date.isoformat()
        dated = title if day in title else f"{title} - {day}"
        n = len(edition.entries)
        zh = edition.language == "zh"
        count = (f"{n} 篇论文" if zh else f"{n} paper{'' if n == 1 else 's'}") if n else ""
        self.subject = ("" if "arxiv" in dated.lower() else "arXiv · ") + dated + (f" · {count}" if count else "")
        label = re.sub(r"[^A-Za-z0-9-]", "-", edition.profile).strip("-") or "list"
        self.list_name = edition.profile
        phrase = clean_header(dated.replace(day, "").strip(" -")).replace('"', "")
        phrase = f'"{phrase}"' if phrase.isascii() else phrase
        self.list_id = f"{phrase} <{label}.{self.domain}>"
        self.public_url = cfg.web.public_url
        self.token_for = token_for or (lambda email: None)
        chosen = attachments if attachments is not None else edition.attachments
        self.attachments = [Attachment(clean_header(a.filename) or "report", a.mimetype, a.data) for a in chosen]
        generic_url = self.mailto(None)
        self._attachment_blocks = [_b64_block(self._personal_attachment(a, generic_url)) for a in self.attachments]
        self._mark = f"PART{uuid.uuid4().hex}"
        self._boundary = f"=_{uuid.uuid4().hex}_"
        self._template: tuple[bytes, list[bytes]] | None = None

    @staticmethod
    def personalize(text: str, name: str, email: str, url: str, is_html: bool) -> str:
        return personalize(text, name=name, unsubscribe_url=url, email=email, html=is_html)

    def _personal_attachment(self, a: Attachment, url: str) -> bytes:
        if not a.mimetype.startswith("text/"):
            return a.data
        text = a.data.decode("utf-8", "replace")
        return _canonical(self.personalize(text, "", "", url, a.mimetype == "text/html"))

    def mailto(self, token: str | None) -> str:
        subject = f"unsubscribe {token}" if token else f"unsubscribe {self.list_name}"
        return f"mailto:{self.sender.addr_spec}?subject={quote(subject)}"

    def unsubscribe_urls(self, email: str) -> tuple[str | None, str]:
        """(https one-click URL or None, mailto URL) for this reader."""
        token = self.token_for(email)
        https = unsubscribe_url(self.public_url, token) if (self.public_url and token) else None
        return https, self.mailto(token)

    def _constant_headers(self, msg: EmailMessage) -> None:
        msg["From"] = self.sender
        if self.reply_to is not None:
            msg["Reply-To"] = self.reply_to
        msg["Subject"] = self.subject
        msg["List-Id"] = self.list_id
        msg["MIME-Version"] = "1.0"

    def _personal_headers(self, msg: EmailMessage, email: str, name: str, message_id: str) -> tuple[str, str]:
        local, _, domain = email.rpartition("@")
        if not local or not domain or any(c in email for c in "\r\n\x00 <>,"):
            raise MessageError(f"{email!r} is not a single address")
        msg["To"] = Address(display_name=clean_header(name), username=local, domain=domain)
        msg["Date"] = formatdate(localtime=True)
        mid = clean_header(message_id)
        if not re.fullmatch(r"<[^<>\s]+@[^<>\s]+>", mid):
            raise MessageError(f"Message-ID {message_id!r} is malformed")
        msg["Message-ID"] = mid
        https, mailto = self.unsubscribe_urls(email)
        if https:
            msg["List-Unsubscribe"] = f"<{https}>, <{mailto}>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        else:
            msg["List-Unsubscribe"] = f"<{mailto}>"
        return https or mailto, clean_header(name)

    def _policy(self, addr: str) -> Policy:
        return SMTPUTF8 if not addr.isascii() or not self.sender.addr_spec.isascii() else SMTP

    def _skeleton(self) -> tuple[bytes, list[bytes]]:
        """The constant headers and the MIME structure around placeholders, serialised once."""
        msg = EmailMessage(policy=SMTP)
        self._constant_headers(msg)
        marks = [f"{self._mark}{i}" for i in range(2 + len(self.attachments))]
        msg.set_content(marks[0], charset="utf-8", cte="7bit")
        msg.add_alternative(marks[1], subtype="html", charset="utf-8", cte="7bit")
        for a, mark in zip(self.attachments, marks[2:], strict=True):
            maintype, _, subtype = a.mimetype.partition("/")
            msg.add_attachment(mark, subtype=subtype, charset="utf-8", cte="7bit", filename=a.filename)
            part = msg.get_payload()[-1]
            if maintype != "text":
                part.replace_header("Content-Type", a.mimetype)
                part.set_param("name", a.filename)
        for n, part in enumerate(msg.walk()):
            if part.is_multipart():
                part.set_boundary(f"{self._boundary}{n}")  # "=_" cannot occur in base64 text
            else:
                part.replace_header("Content-Transfer-Encoding", "base64")
        head, body = msg.as_bytes().split(b"\r\n\r\n", 1)
        segments = []
        for mark in marks:
            before, body = body.split(mark.encode("ascii") + b"\r\n", 1)
            segments.append(before)
        segments.append(body)
        return head + b"\r\n", segments

    def build(self, email: str, name: str, message_id: str) -> bytes:
        """The recipient's message as bytes ready for DATA (CRLF line ends).

        The email package serialises this recipient's headers; the constant headers and the
        MIME skeleton come from `_skeleton`, the parts are base64 blocks of the personalised text.
        """
        if not (email.isascii() and self.sender.addr_spec.isascii()):
            return self.build_message(email, name, message_id).as_bytes()  # SMTPUTF8: the plain way
        if self._template is None:
            self._template = self._skeleton()
        head, segments = self._template
        msg = EmailMessage(policy=SMTP)
        url, name = self._personal_headers(msg, email, name, message_id)
        text = _canonical(self.personalize(self.edition.text, name, email, url, False))
        html = _canonical(self.personalize(self.edition.html, name, email, url, True))
        blocks = [_b64_block(text), _b64_block(html), *self._attachment_blocks]
        out = [head, msg.as_bytes(), segments[0]]  # personal headers end with the blank line
        for block, seg in zip(blocks, segments[1:], strict=True):
            out.append(block)
            out.append(seg)
        return b"".join(out)

    def build_message(self, email: str, name: str, message_id: str) -> EmailMessage:
        """The same message built the plain (slow) way; used by tests and for inspection."""
        msg = EmailMessage(policy=self._policy(email))
        self._constant_headers(msg)
        url, name = self._personal_headers(msg, email, name, message_id)
        msg.set_content(self.personalize(self.edition.text, name, email, url, False), cte="base64")
        msg.add_alternative(self.personalize(self.edition.html, name, email, url, True), subtype="html",
                            cte="base64")
        for a, block in zip(self.attachments, self._attachment_blocks, strict=True):
            data = base64.decodebytes(block)
            maintype, _, subtype = a.mimetype.partition("/")
            if maintype == "text":
                msg.add_attachment(data.decode("utf-8"), subtype=subtype, cte="base64", filename=a.filename)
            else:
                msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=a.filename)
        return msg
