"""One email per recipient, built from the already rendered edition (never re-rendered).

`MessageFactory` is made once per edition: it checks and encodes everything that is the same
for every reader (From, Subject, List-Id, attachments). `build(...)` then makes the recipient's
`EmailMessage` (SMTP policy) with its own To, Message-ID, List-Unsubscribe and personalised
text and HTML. A reader with picks (their own papers of the edition) gets their own issue,
assembled from the edition's parts (newsletter.assembly: joins, ~0.1 ms; MJML never runs here),
with their paper count in the Subject and their signed "more/less like this" links.
For speed the big parts are encoded with the C codecs and spliced into the
message the email package serialised around small placeholders (one skeleton per combination of
encodings and Subject, serialised once), which yields the same message as `set_content(..., cte=...)` at a
fraction of the cost (see `build_message` for the plain way and
tests/test_deliver.py::test_fast_build_equals_the_plain_email_package_build for the proof they agree).

Content-Transfer-Encoding, per part and per recipient (newsletter.mime.encode): 7bit for
short-lined ASCII; 8bit when the connection's server announced 8BITMIME (`eightbit=True`, known
after EHLO: the worker asks `smtp.has_extn("8bitmime")`, and then sends MAIL with BODY=8BITMIME)
and no line is over 998 octets; else the smaller of quoted-printable and base64. Binary
attachments are always base64.

Header injection: every value that comes from data (names, titles, addresses, URLs) goes
through `clean_header`, which turns CR, LF and other control characters into spaces, and
addresses are validated; the email package then folds and encodes them.
"""

from __future__ import annotations

import functools
import html as _html
import re
import time
import uuid
from collections.abc import Callable
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8, Policy
from email.utils import formatdate, getaddresses, make_msgid
from urllib.parse import quote

from ..assembly import EMAIL, FB_UP, NAME, UNSUBSCRIBE_URL, Parts, assemble, assemble_wire, compile_parts
from ..config import Config
from ..errors import UsageError
from ..mime import base64_block, canonical, encode
from ..models import Attachment, Edition
from ..placeholders import personalize
from .dkim import DKIMError
from .dkim import signer as dkim_signer
from .tokens import unsubscribe_url, url_quote

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PHRASE = re.compile(rf"{_ATEXT}(?: {_ATEXT})*")  # a display name the email package writes as is
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


class URLListHeader(UnstructuredHeader):
    """List-Unsubscribe (RFC 2369): `<url>, <url>`, folded between the URLs and never into RFC 2047
    encoded words, which the email package makes of any token longer than a line (a signed https URL
    is) and which no client reads as a URL."""

    def fold(self, *, policy: Policy) -> str:
        urls = str(self).split(", ")
        if (str(self).isascii() or policy.utf8) and all(len(u) < 900 for u in urls):
            return f"{self.name}: " + f",{policy.linesep} ".join(urls) + policy.linesep
        return super().fold(policy=policy)


def _with_url_lists(policy: Policy) -> Policy:
    registry = HeaderRegistry()
    registry.map_to_type("list-unsubscribe", URLListHeader)
    return policy.clone(header_factory=registry)


_SMTP, _SMTPUTF8 = _with_url_lists(SMTP), _with_url_lists(SMTPUTF8)


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


_DATE: list = [0, ""]


def _date() -> str:
    """formatdate(localtime=True), made once a second rather than once a message."""
    now = int(time.time())
    if _DATE[0] != now:
        _DATE[:] = [now, formatdate(now, localtime=True)]
    return _DATE[1]


def new_message_id(domain: str) -> str:
    """Unique per recipient and stable once stored in the ledger (a resend reuses it)."""
    return make_msgid(idstring=uuid.uuid4().hex[:12], domain=domain)


class MessageFactory:
    """Everything constant for one edition, computed once; `build` makes one recipient's bytes."""

    def __init__(
        self, cfg: Config, edition: Edition, *, attachments: list[Attachment] | None = None,
        token_for: Callable[[str], str | None] | None = None, picks: dict[str, list[str]] | None = None,
        feedback_for: Callable[[str, str, int], str | None] | None = None,
        envelope_for: Callable[[str], str] | None = None,
    ):
        self.cfg = cfg
        self.edition = edition
        self.sender = parse_address(cfg.smtp.from_, "[smtp] from")
        self.reply_to = parse_address(cfg.smtp.reply_to, "[smtp] reply_to") if cfg.smtp.reply_to else None
        self.domain = self.sender.domain
        unsub = cfg.mailbox.unsubscribe_address
        self.unsubscribe_address = (parse_address(unsub, "[mailbox] unsubscribe_address").addr_spec if unsub
                                    else self.sender.addr_spec)
        # the envelope sender (Return-Path) of each reader's message: VERP, the bounce address or From
        self.envelope_for = envelope_for or (lambda email: self.sender.addr_spec)
        # Subject: the profile's title (readers never see the internal name), "arXiv", the date and
        # the number of papers ("1 paper", "10 papers", "10 篇论文"): the reader's own when they have
        # picks; the count is left out when the edition was loaded without its papers. List-Id stays
        # the same every day.
        title = clean_header(edition.title) or "arXiv"
        day = edition.date.isoformat()
        self._dated = title if day in title else f"{title} - {day}"
        self.subject = self.subject_for(len(edition.entries))
        label = re.sub(r"[^A-Za-z0-9-]", "-", edition.profile).strip("-") or "list"
        self.list_name = edition.profile
        phrase = clean_header(self._dated.replace(day, "").strip(" -")).replace('"', "")
        phrase = f'"{phrase}"' if phrase.isascii() else phrase
        self.list_id = f"{phrase} <{label}.{self.domain}>"
        self.public_url = cfg.web.public_url
        self.token_for = token_for or (lambda email: None)
        # each reader's own issue (newsletter.assembly): their papers from the edition's parts
        self.picks = {k.lower(): v for k, v in (picks or {}).items()}
        self.parts = Parts.from_json(edition.parts) if edition.parts and self.picks else None
        self.feedback_for = feedback_for
        self.wire = compile_parts(self.parts, self._widths()) if self.parts is not None else None  # for `build`
        chosen = attachments if attachments is not None else edition.attachments
        self.attachments = [Attachment(clean_header(a.filename) or "report", a.mimetype, a.data) for a in chosen]
        generic_url = self.mailto(None)
        self._attachment_data = [self._personal_attachment(a, generic_url) for a in self.attachments]
        self._attachment_blocks: dict[bool, list[tuple[str, bytes]]] = {}
        self._mark = f"PART{uuid.uuid4().hex}"
        self._boundary = f"=_{uuid.uuid4().hex}_"
        self._templates: dict[tuple, tuple[bytes, list[bytes]]] = {}
        try:
            self.signer = dkim_signer(cfg)  # None without [dkim]; a bad key is one line here, before sending
        except DKIMError as e:
            raise MessageError(str(e)) from None

    def _widths(self) -> dict[int, int]:
        """The widest per-recipient values of this edition's readers, HTML-escaped, in octets: what the
        compiled parts' line bounds assume (a reader with wider ones gets their lines measured). A name
        is at most 100 characters; tokens grow with the address and the paper id."""
        def wide(s: str | None) -> int:
            return len(_html.escape(s or "", quote=True).encode("utf-8"))

        longest = max(self.picks, key=len, default="")
        paper = max(self.parts.ids if self.parts else [""], key=len)
        ask = self.feedback_for
        return {NAME: 600, EMAIL: max(map(wide, self.picks), default=0),
                UNSUBSCRIBE_URL: max(map(wide, self.unsubscribe_urls(longest))),
                FB_UP: max(wide(ask(longest, paper, v)) for v in (1, -1)) if ask else 0}

    def subject_for(self, n: int) -> str:
        """The Subject for an issue of `n` papers ("arXiv · Title - date · 3 papers")."""
        zh = self.edition.language == "zh"
        count = (f"{n} 篇论文" if zh else f"{n} paper{'' if n == 1 else 's'}") if n else ""
        return ("" if "arxiv" in self._dated.lower() else "arXiv · ") + self._dated + (f" · {count}" if count else "")

    def bodies(self, email: str) -> tuple[str, str, str]:
        """(text, html, Subject) of this reader's issue before personalisation: assembled from the
        edition's parts when they have picks, else the whole edition as rendered."""
        ids = self.picks.get(email.lower()) if self.parts is not None else None
        if ids is None:
            return self.edition.text, self.edition.html, self.subject
        mine = assemble(self.parts, ids, self._feedback(email))
        return mine.text, mine.html, self.subject_for(mine.count)

    def _feedback(self, email: str) -> Callable[[str, int], str | None] | None:
        return None if self.feedback_for is None else functools.partial(self.feedback_for, email)

    @staticmethod
    def personalize(text: str, name: str, email: str, url: str, is_html: bool) -> str:
        return personalize(text, name=name, unsubscribe_url=url, email=email, html=is_html)

    def _personal_attachment(self, a: Attachment, url: str) -> bytes:
        if not a.mimetype.startswith("text/"):
            return a.data
        text = a.data.decode("utf-8", "replace")
        return canonical(self.personalize(text, "", "", url, a.mimetype == "text/html"))

    def attachment_blocks(self, eightbit: bool) -> list[tuple[str, bytes]]:
        """(encoding, encoded body) of every attachment: the same for every reader, made once."""
        if eightbit not in self._attachment_blocks:
            self._attachment_blocks[eightbit] = [
                encode(data, eightbit) if a.mimetype.startswith("text/") else ("base64", base64_block(data))
                for a, data in zip(self.attachments, self._attachment_data, strict=True)
            ]
        return self._attachment_blocks[eightbit]

    def mailto(self, token: str | None) -> str:
        subject = f"unsubscribe%20{url_quote(token, '/')}" if token else quote(f"unsubscribe {self.list_name}")
        return f"mailto:{self.unsubscribe_address}?subject={subject}"

    def unsubscribe_urls(self, email: str) -> tuple[str | None, str]:
        """(https one-click URL or None, mailto URL) for this reader."""
        token = self.token_for(email)
        https = unsubscribe_url(self.public_url, token) if (self.public_url and token) else None
        return https, self.mailto(token)

    def _constant_headers(self, msg: EmailMessage, subject: str) -> None:
        msg["From"] = self.sender
        if self.reply_to is not None:
            msg["Reply-To"] = self.reply_to
        msg["Subject"] = subject
        msg["List-Id"] = self.list_id
        msg["MIME-Version"] = "1.0"

    def _personal_headers(self, msg: EmailMessage, email: str, name: str, message_id: str) -> tuple[str, str]:
        local, domain, mid = self._checked(email, message_id)
        msg["To"] = Address(display_name=clean_header(name), username=local, domain=domain)
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = mid
        https, mailto = self.unsubscribe_urls(email)
        if https:
            msg["List-Unsubscribe"] = f"<{https}>, <{mailto}>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        else:
            msg["List-Unsubscribe"] = f"<{mailto}>"
        return https or mailto, clean_header(name)

    @staticmethod
    def _checked(email: str, message_id: str) -> tuple[str, str, str]:
        local, _, domain = email.rpartition("@")
        if not local or not domain or any(c in email for c in "\r\n\x00 <>,"):
            raise MessageError(f"{email!r} is not a single address")
        mid = clean_header(message_id)
        if not re.fullmatch(r"<[^<>\s]+@[^<>\s]+>", mid):
            raise MessageError(f"Message-ID {message_id!r} is malformed")
        return local, domain, mid

    def _personal_block(self, email: str, name: str, message_id: str) -> tuple[bytes, str, str]:
        """(this recipient's header lines and the blank line after them, their unsubscribe URL, their
        cleaned name): the lines `_personal_headers` gives, written directly when every value is
        plain ASCII that needs no quoting or folding (else through the email package)."""
        local, domain, mid = self._checked(email, message_id)
        name = clean_header(name)
        https, mailto = self.unsubscribe_urls(email)
        to = f"{name} <{local}@{domain}>" if name else f"{local}@{domain}"
        if not (_DOT_ATOM.fullmatch(local) and _DOMAIN.fullmatch(domain) and (not name or (
                _PHRASE.fullmatch(name) and "=?" not in name)) and len(to) <= 74):
            msg = EmailMessage(policy=_SMTP)
            self._personal_headers(msg, email, name, message_id)
            return msg.as_bytes(), https or mailto, name
        lines = [f"To: {to}", f"Date: {_date()}", f"Message-ID: {mid}"]
        if https:
            lines += [f"List-Unsubscribe: <{https}>,\r\n <{mailto}>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"]
        else:
            lines.append(f"List-Unsubscribe: <{mailto}>")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii"), https or mailto, name

    def _policy(self, addr: str) -> Policy:
        return _SMTPUTF8 if not addr.isascii() or not self.sender.addr_spec.isascii() else _SMTP

    def _skeleton(self, ctes: tuple[str, ...], subject: str) -> tuple[bytes, list[bytes]]:
        """The constant headers and the MIME structure around placeholders, serialised once per
        combination of encodings (`ctes`: one per leaf part, in order) and Subject (paper count)."""
        msg = EmailMessage(policy=SMTP)
        self._constant_headers(msg, subject)
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
        leaves = iter(ctes)
        for n, part in enumerate(msg.walk()):
            if part.is_multipart():
                # "=_" cannot occur in base64 or quoted-printable text, the uuid not in 7bit/8bit text
                part.set_boundary(f"{self._boundary}{n}")
            else:
                part.replace_header("Content-Transfer-Encoding", next(leaves))
        head, body = msg.as_bytes().split(b"\r\n\r\n", 1)
        segments = []
        for mark in marks:
            before, body = body.split(mark.encode("ascii") + b"\r\n", 1)
            segments.append(before)
        segments.append(body)
        return head + b"\r\n", segments

    def build(self, email: str, name: str, message_id: str, eightbit: bool = False) -> bytes:
        """The recipient's message as bytes ready for DATA, DKIM-signed when [dkim] is set: every message
        (the ledger's sends and test copies) passes here, so it is signed once, over its final bytes."""
        data = self.build_unsigned(email, name, message_id, eightbit)
        return self.signer.sign(data) if self.signer is not None else data

    def build_unsigned(self, email: str, name: str, message_id: str, eightbit: bool = False) -> bytes:
        """The recipient's message as bytes ready for DATA (CRLF line ends).

        The email package serialises this recipient's headers; the constant headers and the
        MIME skeleton come from `_skeleton`, the parts are the personalised text in the smallest
        safe encoding (`eightbit`: the server announced 8BITMIME; see `is_8bit`).
        """
        if not (email.isascii() and self.sender.addr_spec.isascii()):
            return self.build_message(email, name, message_id, eightbit).as_bytes()  # SMTPUTF8: the plain way
        personal, url, name = self._personal_block(email, name, message_id)
        ids = self.picks.get(email.lower()) if self.wire is not None else None
        if ids is not None:  # their own issue: canonical bytes from one walk, longest lines known
            w = assemble_wire(self.wire, ids, self._feedback(email), name=name, unsubscribe_url=url,  # type: ignore
                              email=email)
            text_part, html_part = encode(w.text, eightbit, w.text_line), encode(w.html, eightbit, w.html_line)
            subject = self.subject_for(w.count)
        else:
            text, html, subject = self.bodies(email)
            text_part = encode(canonical(self.personalize(text, name, email, url, False)), eightbit)
            html_part = encode(canonical(self.personalize(html, name, email, url, True)), eightbit)
        parts = [text_part, html_part, *self.attachment_blocks(eightbit)]
        ctes = tuple(cte for cte, _ in parts)
        if (ctes, subject) not in self._templates:
            self._templates[(ctes, subject)] = self._skeleton(ctes, subject)
        head, segments = self._templates[(ctes, subject)]
        blocks = [block for _, block in parts]
        out = [head, personal, segments[0]]  # personal headers end with the blank line
        for block, seg in zip(blocks, segments[1:], strict=True):
            out.append(block)
            out.append(seg)
        return b"".join(out)

    def build_message(self, email: str, name: str, message_id: str, eightbit: bool = False) -> EmailMessage:
        """The same message built the plain (slow) way; used by tests and for inspection."""
        msg = EmailMessage(policy=self._policy(email))
        text, html, subject = self.bodies(email)
        self._constant_headers(msg, subject)
        url, name = self._personal_headers(msg, email, name, message_id)
        text = self.personalize(text, name, email, url, False)
        html = self.personalize(html, name, email, url, True)
        msg.set_content(text, cte=encode(canonical(text), eightbit)[0])
        msg.add_alternative(html, subtype="html", cte=encode(canonical(html), eightbit)[0])
        blocks = self.attachment_blocks(eightbit)
        for a, data, (cte, _) in zip(self.attachments, self._attachment_data, blocks, strict=True):
            maintype, _, subtype = a.mimetype.partition("/")
            if maintype == "text":
                msg.add_attachment(data.decode("utf-8"), subtype=subtype, cte=cte, filename=a.filename)
            else:
                msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=a.filename)
        return msg

