"""SMTP sessions: settings checked before anything is sent, then one reused connection per worker.

Certificates are always verified (`[smtp] ca_file` adds a private CA); AUTH never goes over an
unencrypted connection to a non-loopback host; a password only comes from the environment.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass

from ..config import Config
from ..errors import DeliveryError
from .replies import classify, reply_text

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class Fatal(Exception):
    """Every further message would fail too (auth, TLS, sender refused): stop the batch."""


class ConnectFailed(Exception):
    """This connection attempt failed; another may work (the batch stops after a few in a row)."""


@dataclass
class SMTPParams:
    host: str
    port: int
    security: str
    timeout: float
    username: str = ""
    password: str | None = None
    context: ssl.SSLContext | None = None
    helo: str = "localhost"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def smtp_params(cfg: Config, host: str | None = None, port: int | None = None) -> SMTPParams:
    """Connection settings, checked before anything is sent (missing password, plaintext AUTH)."""
    s = cfg.smtp
    if host is not None:  # the embedded sink
        return SMTPParams(host=host, port=port or 25, security="none", timeout=s.timeout)
    password = None
    if s.username:
        password = s.password()
        if not password:
            raise DeliveryError(
                f"[smtp] username is set but the environment variable {s.password_env} is empty; "
                "export the SMTP password there"
            )
        if s.security == "none" and s.host not in _LOOPBACK:
            raise DeliveryError(
                f"[smtp] security = \"none\" would send the password to {s.host} unencrypted; "
                "use starttls or ssl"
            )
    context = None
    if s.security != "none":
        context = ssl.create_default_context()
        if s.ca_file:
            try:
                context.load_verify_locations(cafile=str(cfg.resolve(s.ca_file)))
            except (OSError, ssl.SSLError) as e:
                raise DeliveryError(f"[smtp] ca_file {s.ca_file!r}: cannot load it ({e})") from None
    helo = "localhost" if s.host in _LOOPBACK else socket.getfqdn()
    return SMTPParams(host=s.host, port=s.port, security=s.security, timeout=s.timeout, username=s.username,
                   password=password, context=context, helo=helo)


class Connection:
    """One SMTP session, opened lazily and reused for many messages."""

    def __init__(self, params: SMTPParams):
        self.p = params
        self.smtp: smtplib.SMTP | None = None

    def open(self) -> None:
        p = self.p
        try:
            if p.security == "ssl":
                s: smtplib.SMTP = smtplib.SMTP_SSL(p.host, p.port, local_hostname=p.helo, timeout=p.timeout,
                                                   context=p.context)
            else:
                s = smtplib.SMTP(p.host, p.port, local_hostname=p.helo, timeout=p.timeout)
        except ssl.SSLCertVerificationError as e:
            raise Fatal(f"the TLS certificate of {p.where} cannot be verified ({e.verify_message}); "
                         "set [smtp] ca_file to its CA if it is private") from None
        except smtplib.SMTPConnectError as e:
            raise ConnectFailed(f"{p.where} refused the session: {reply_text(e.smtp_code, e.smtp_error)}") from None
        except OSError as e:
            raise ConnectFailed(f"cannot connect to {p.where}: {e}") from None
        try:
            s.ehlo()
            if p.security == "starttls":
                if not s.has_extn("starttls"):
                    raise Fatal(f"{p.where} does not offer STARTTLS; set [smtp] security = \"ssl\" "
                                 "(usually port 465) or use another relay")
                s.starttls(context=p.context)
                s.ehlo()
            if p.username:
                s.login(p.username, p.password or "")
        except smtplib.SMTPAuthenticationError as e:
            _close(s)
            raise Fatal(f"SMTP authentication failed for {p.username!r} at {p.where}: "
                         f"{reply_text(e.smtp_code, e.smtp_error)}; check [smtp] username and the password "
                         "environment variable") from None
        except smtplib.SMTPNotSupportedError as e:
            _close(s)
            raise Fatal(f"{p.where}: {e}") from None
        except ssl.SSLCertVerificationError as e:
            _close(s)
            raise Fatal(f"the TLS certificate of {p.where} cannot be verified ({e.verify_message}); "
                         "set [smtp] ca_file to its CA if it is private") from None
        except smtplib.SMTPResponseException as e:
            _close(s)
            if classify(e.smtp_code, reply_text(e.smtp_code, e.smtp_error)) == "fatal":
                raise Fatal(f"{p.where}: {reply_text(e.smtp_code, e.smtp_error)}") from None
            raise ConnectFailed(f"{p.where}: {reply_text(e.smtp_code, e.smtp_error)}") from None
        except OSError as e:
            _close(s)
            raise ConnectFailed(f"{p.where}: connection lost while opening the session ({e})") from None
        self.smtp = s

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            _close(self.smtp)
            self.smtp = None

    def drop(self) -> None:
        if self.smtp is not None:
            _close(self.smtp)
            self.smtp = None


def _close(s: smtplib.SMTP) -> None:
    try:
        s.close()
    except OSError:
        pass
