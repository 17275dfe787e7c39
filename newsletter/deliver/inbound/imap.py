"""The bounce mailbox over IMAP (imaplib): STARTTLS or implicit TLS, certificates always verified.

A processed message gets the keyword `$NewsletterProcessed` (a flag of its own, so a person reading
the same mailbox still sees it unread) and, with `[mailbox] processed_folder`, is moved there
(MOVE, or COPY + \\Deleted + EXPUNGE where the server has no MOVE). "New" means not yet flagged.
A server that allows no keywords of our own is handled with \\Seen instead. The password comes from
the variable `[mailbox] password_env` names, never from a file, and is never logged.
"""

from __future__ import annotations

import imaplib
import re
import ssl

from ...config import Config
from ...errors import DeliveryError

FLAG = "$NewsletterProcessed"


class MailboxError(DeliveryError):
    """The mailbox cannot be read (connection, TLS, login, folder): one line saying what to fix."""


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Mailbox:
    """One IMAP session on the configured folder; use as a context manager."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        m = cfg.mailbox
        self.where = f"{m.host}:{m.port} ({m.security})"
        self.conn: imaplib.IMAP4 | None = None
        self.keywords = True

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if self.cfg.mailbox.ca_file:
            try:
                ctx.load_verify_locations(cafile=str(self.cfg.resolve(self.cfg.mailbox.ca_file)))
            except (OSError, ssl.SSLError) as e:
                raise MailboxError(f"[mailbox] ca_file {self.cfg.mailbox.ca_file!r}: cannot load it ({e})") from None
        return ctx

    def __enter__(self) -> Mailbox:
        m = self.cfg.mailbox
        password = m.password()
        if not m.username or not password:
            raise MailboxError(f"[mailbox] username and the password in ${m.password_env} are both needed "
                               f"to read {self.where}")
        ctx = self.context()
        try:
            if m.security == "ssl":
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(m.host, m.port, ssl_context=ctx, timeout=m.timeout)
            else:
                conn = imaplib.IMAP4(m.host, m.port, timeout=m.timeout)
                conn.starttls(ssl_context=ctx)
        except ssl.SSLCertVerificationError as e:
            raise MailboxError(f"the TLS certificate of {self.where} cannot be verified ({e.verify_message}); "
                               "set [mailbox] ca_file to its CA if it is private") from None
        except (OSError, imaplib.IMAP4.error) as e:
            raise MailboxError(f"cannot open an IMAP session with {self.where}: {e or type(e).__name__}; "
                               "check [mailbox] host, port and security") from None
        self.conn = conn
        try:
            conn.login(m.username, password)
        except imaplib.IMAP4.error:
            self.close()
            raise MailboxError(f"IMAP login failed for {m.username!r} at {self.where}; check [mailbox] username "
                               f"and the password in ${m.password_env}") from None
        self._select()
        return self

    def _select(self) -> None:
        assert self.conn is not None
        folder = self.cfg.mailbox.folder
        typ, data = self.conn.select(_quote(folder))
        if typ != "OK":
            self.close()
            raise MailboxError(f"[mailbox] folder {folder!r} cannot be opened at {self.where} "
                               f"({(data[0] or b'').decode(errors='replace')}); check its name")
        oks = b" ".join(x for x in self.conn.untagged_responses.get("OK", []) if isinstance(x, bytes))
        perm = re.search(rb"PERMANENTFLAGS \(([^)]*)\)", oks)
        self.keywords = perm is None or b"\\*" in perm.group(1)
        if self.cfg.mailbox.processed_folder:
            self.conn.create(_quote(self.cfg.mailbox.processed_folder))  # "already exists" is fine

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.logout()
            except (imaplib.IMAP4.error, OSError):
                pass
            self.conn = None

    def _uid(self, *args: str) -> list:
        assert self.conn is not None
        try:
            typ, data = self.conn.uid(*args)
        except (imaplib.IMAP4.error, OSError) as e:
            raise MailboxError(f"{self.where}: IMAP {args[0]} failed ({e})") from None
        if typ != "OK":
            raise MailboxError(f"{self.where}: IMAP {args[0]} answered {typ} {data!r}")
        return data

    def new_uids(self) -> list[str]:
        """The UIDs of the messages not processed yet, oldest first."""
        query = f"NOT KEYWORD {FLAG}" if self.keywords else "UNSEEN"
        data = self._uid("SEARCH", None, query)
        return [u.decode() for u in (data[0] or b"").split()]

    def message_id(self, uid: str) -> str | None:
        """The Message-ID header of a message (None when it has none), without reading its body."""
        data = self._uid("FETCH", uid, "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        raw = b"".join(p[1] for p in data if isinstance(p, tuple))
        m = re.search(rb"(?im)^message-id:\s*(.+(?:\r?\n[ \t].*)*)", raw)
        return " ".join(m.group(1).decode("utf-8", "replace").split()) if m else None

    def fetch(self, uid: str) -> bytes | None:
        """The whole message as bytes (None when it vanished meanwhile); it stays unread (PEEK)."""
        data = self._uid("FETCH", uid, "(BODY.PEEK[])")
        parts = [p[1] for p in data if isinstance(p, tuple)]
        return parts[0] if parts else None

    def done(self, uid: str) -> None:
        """Mark it processed: our keyword (or \\Seen), and moved when [mailbox] processed_folder is set."""
        self._uid("STORE", uid, "+FLAGS.SILENT", f"({FLAG})" if self.keywords else "(\\Seen)")
        target = self.cfg.mailbox.processed_folder
        if not target:
            return
        assert self.conn is not None
        if "MOVE" in self.conn.capabilities:
            self._uid("MOVE", uid, _quote(target))
        else:
            self._uid("COPY", uid, _quote(target))
            self._uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")
            if "UIDPLUS" in self.conn.capabilities:
                self._uid("EXPUNGE", uid)
            else:
                self.conn.expunge()
