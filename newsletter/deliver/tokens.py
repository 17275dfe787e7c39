"""Unsubscribe tokens: an HMAC of (list, address) so a link can only unsubscribe its own reader.

The token carries the list and the address (base64url) and a SHA-256 HMAC over both keyed with
a secret from an environment variable; without the secret nobody can forge one, and changing
either part invalidates it. Tokens do not expire: an old newsletter's link must keep working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from urllib.parse import quote

from ..config import Config

_MAC_BYTES = 20


class TokenError(ValueError):
    """The token is malformed or its signature does not match: refuse the request."""


def secret_from_env(cfg: Config) -> bytes | None:
    """The unsubscribe secret, or None when the environment variable is unset or empty."""
    value = os.environ.get(cfg.web.unsubscribe_secret_env, "")
    return value.encode("utf-8") if value else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, list_name: str, email: str) -> bytes:
    msg = f"unsubscribe\x00{list_name}\x00{email.lower()}".encode()
    return hmac.new(secret, msg, hashlib.sha256).digest()[:_MAC_BYTES]


def make_token(secret: bytes, email: str, list_name: str) -> str:
    payload = f"{list_name}\x00{email.lower()}".encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, list_name, email))}"


def verify_token(secret: bytes, token: str) -> tuple[str, str]:
    """(email, list) of a genuine token; TokenError for anything else."""
    if not token or len(token) > 2000 or token.count(".") != 1:
        raise TokenError("malformed token")
    payload_b64, mac_b64 = token.split(".")
    try:
        payload = _unb64(payload_b64).decode("utf-8")
        mac = _unb64(mac_b64)
    except (ValueError, UnicodeDecodeError):
        raise TokenError("malformed token") from None
    if payload.count("\x00") != 1:
        raise TokenError("malformed token")
    list_name, email = payload.split("\x00")
    if not hmac.compare_digest(mac, _mac(secret, list_name, email)):
        raise TokenError("the token's signature does not match")
    return email, list_name


def unsubscribe_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/unsubscribe?token={quote(token, safe='')}"
