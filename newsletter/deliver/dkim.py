"""DKIM signatures (dkimpy): every message is signed once, over its final bytes, when `[dkim]` domain,
selector and a private key (a PEM RSA key in a file, or in the environment variable
`private_key_env` names) are set.

Signed: the headers a reader and a mailbox provider look at (From, To, Subject, Date, Message-ID,
Reply-To, List-Id, List-Unsubscribe, List-Unsubscribe-Post, MIME-Version, Content-Type); one not in a
message is signed as absent, so nobody can add it on the way. Canonicalization relaxed/relaxed, so
a relay that refolds a header or re-ends a line does not break the signature. The key is read and
checked once per edition (a bad key is one line before anything is sent), never logged.
"""

from __future__ import annotations

import base64
import os

from ..config import Config
from ..errors import UsageError

SIGNED_HEADERS = ("From", "To", "Subject", "Date", "Message-ID", "Reply-To", "List-Id", "List-Unsubscribe",
                  "List-Unsubscribe-Post", "MIME-Version", "Content-Type")


class DKIMError(UsageError):
    """The DKIM key cannot be used: one line naming the setting and the fix."""


def private_key(cfg: Config) -> bytes:
    """The PEM private key from [dkim] private_key_file, else from the variable private_key_env."""
    d = cfg.dkim
    if d.private_key_file:
        path = cfg.resolve(d.private_key_file)
        try:
            pem = path.read_bytes()
        except OSError as e:
            raise DKIMError(f"[dkim] private_key_file {str(path)!r}: cannot read it ({e.strerror}); check the path "
                            "and that the service's user may read it") from None
    else:
        pem = os.environ.get(d.private_key_env, "").replace("\\n", "\n").encode()
        if not pem.strip():
            raise DKIMError(f"[dkim] private_key_env: the environment variable {d.private_key_env} is empty; "
                            "export the PEM key there or set [dkim] private_key_file")
    return pem.strip() + b"\n"


def public_key_b64(pem: bytes) -> str:
    """The base64 SubjectPublicKeyInfo of a PEM RSA private key: the p= of its DNS record."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:
        raise DKIMError(f"[dkim]: the private key is not a usable unencrypted PEM key ({e})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DKIMError("[dkim]: the private key is not an RSA key; generate one with "
                        "`openssl genrsa -out dkim.pem 2048`")
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def dns_record(cfg: Config) -> tuple[str, str]:
    """(name, TXT value) to publish for the configured key: SELECTOR._domainkey.DOMAIN, v=DKIM1; k=rsa; p=..."""
    return (f"{cfg.dkim.selector}._domainkey.{cfg.dkim.domain}",
            f"v=DKIM1; k=rsa; p={public_key_b64(private_key(cfg))}")


class Signer:
    """Signs final message bytes for [dkim] domain and selector; made once per edition."""

    def __init__(self, cfg: Config):
        import dkim

        self._dkim = dkim
        self.domain = cfg.dkim.domain.encode("idna")
        self.selector = cfg.dkim.selector.encode("ascii")
        self.key = private_key(cfg)
        public_key_b64(self.key)  # an unusable key fails here, with one line, before any message
        self.headers = [h.encode("ascii") for h in SIGNED_HEADERS]

    def sign(self, data: bytes) -> bytes:
        """The message with its DKIM-Signature header first."""
        try:
            sig = self._dkim.sign(data, self.selector, self.domain, self.key, include_headers=self.headers,
                                  canonicalize=(b"relaxed", b"relaxed"))
        except self._dkim.DKIMException as e:
            raise DKIMError(f"[dkim]: cannot sign ({e})") from None
        if not sig.endswith(b"\r\n"):
            sig = sig.rstrip(b"\n").replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n"
        return sig + data


def signer(cfg: Config) -> Signer | None:
    """The edition's signer, or None when [dkim] is not set (domain, selector and a key)."""
    return Signer(cfg) if cfg.dkim.enabled else None
