"""Signed tokens: unsubscribe links (an HMAC of list and address) and one-click feedback links.

The token carries the list and the address (base64url) and a SHA-256 HMAC over both keyed with
a secret from an environment variable; without the secret nobody can forge one, and changing
either part invalidates it. Tokens do not expire: an old newsletter's link must keep working.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Callable
from urllib.parse import quote

from ..config import Config

_MAC_BYTES = 20
MIN_SECRET_CHARS = 16  # shorter secrets can be guessed offline from one genuine link
GENERATE_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


class TokenError(ValueError):
    """The token is malformed or its signature does not match: refuse the request."""


def secret_from_env(cfg: Config) -> bytes | None:
    """The unsubscribe secret, or None when the environment variable is unset or empty."""
    value = os.environ.get(cfg.web.unsubscribe_secret_env, "")
    return value.encode("utf-8") if value else None


def secret_problem(cfg: Config) -> str | None:
    """One line saying why one-click unsubscribe cannot work as configured, or None.

    Only matters when `[web] public_url` is set: then `run`/`send` refuse to mail without the
    secret and `serve` answers 503. Names the variable, never its value.
    """
    if not cfg.web.public_url:
        return None
    name = cfg.web.unsubscribe_secret_env
    secret = secret_from_env(cfg)
    if secret is None:
        return (f"[web] public_url is set but the environment variable {name} is empty: "
                "send refuses to mail and the unsubscribe page answers 503")
    if len(secret) < MIN_SECRET_CHARS:
        return (f"the unsubscribe secret in {name} is only {len(secret)} characters "
                f"(at least {MIN_SECRET_CHARS}): links could be forged")
    return None


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


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


def unverified_list(token: str) -> str | None:
    """The list a token names, WITHOUT checking it: only to choose a page's language, never to act."""
    try:
        payload = _unb64(token.split(".")[0]).decode("utf-8") if 0 < len(token) <= 2000 else ""
    except (ValueError, UnicodeDecodeError):
        return None
    return payload.split("\x00")[0] if payload.count("\x00") == 1 else None


_PLAIN = re.compile(r"[A-Za-z0-9._~-]*")  # what quote() leaves as it is: every character of our tokens


def url_quote(value: str, safe: str = "") -> str:
    """quote(value, safe), without its cost for a token that needs no quoting (one per message)."""
    return value if _PLAIN.fullmatch(value) else quote(value, safe=safe)


def unsubscribe_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/unsubscribe?token={url_quote(token)}"


# -- one-click feedback ("more like this" / "less like this") ------------------------------------


def _feedback_mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, b"feedback\x00" + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def make_feedback_token(secret: bytes, email: str, list_name: str, paper_id: str, vote: int) -> str:
    """A link that records one reader's vote (+1 or -1) on one paper of one list, and nothing else.

    Signed apart from unsubscribe tokens (another HMAC domain), so one can never pass for the other."""
    payload = f"{list_name}\x00{email.lower()}\x00{paper_id}\x00{'+' if vote > 0 else '-'}".encode()
    return f"{_b64(payload)}.{_b64(_feedback_mac(secret, payload))}"


def feedback_signer(secret: bytes) -> Callable[[str, str, str, int], str]:
    """`make_feedback_token` with the secret's HMAC state computed once: a sender signs ~20 links per
    message, and copying a keyed HMAC halves the cost of keying it again for each. Keeps no other
    state: the sender's threads call it at once."""
    keyed = hmac.new(secret, b"feedback\x00", hashlib.sha256)  # what _feedback_mac keys, once

    def sign(email: str, list_name: str, paper_id: str, vote: int) -> str:
        payload = f"{list_name}\x00{email.lower()}\x00{paper_id}\x00{'+' if vote > 0 else '-'}".encode()
        mac = keyed.copy()
        mac.update(payload)
        return f"{_b64(payload)}.{_b64(mac.digest()[:_MAC_BYTES])}"

    return sign


def verify_feedback_token(secret: bytes, token: str) -> tuple[str, str, str, int]:
    """(email, list, paper id, vote) of a genuine feedback token; TokenError for anything else."""
    if not token or len(token) > 2000 or token.count(".") != 1:
        raise TokenError("malformed token")
    payload_b64, mac_b64 = token.split(".")
    try:
        payload = _unb64(payload_b64)
        mac = _unb64(mac_b64)
        fields = payload.decode("utf-8").split("\x00")
    except (ValueError, UnicodeDecodeError):
        raise TokenError("malformed token") from None
    if len(fields) != 4 or fields[3] not in ("+", "-") or not fields[1] or not fields[2]:
        raise TokenError("malformed token")
    if not hmac.compare_digest(mac, _feedback_mac(secret, payload)):
        raise TokenError("the token's signature does not match")
    list_name, email, paper_id, sign = fields
    return email, list_name, paper_id, 1 if sign == "+" else -1


def feedback_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/feedback/{token}"


# -- VERP: a return path per message ---------------------------------------------------------------


def _verp_mac(secret: bytes, edition_id: int, email: str) -> str:
    mac = hmac.new(secret, f"verp\x00{edition_id}\x00{email.lower()}".encode(), hashlib.sha256).digest()[:10]
    return base64.b32encode(mac).decode("ascii").lower()  # 16 letters and digits: survives a lowercased address


def make_verp_token(secret: bytes, edition_id: int, email: str) -> str:
    """`<edition id>-<mac>`: names one delivery (edition, address) without spelling the address, short
    enough for a local part (`bounces+12-abcdefghijklmnop@…`, under 64 octets), in its own HMAC domain."""
    return f"{edition_id}-{_verp_mac(secret, edition_id, email)}"


def verp_address(bounce_address: str, token: str) -> str:
    local, _, domain = bounce_address.rpartition("@")
    return f"{local}+{token}@{domain}"


def verp_token_of(address: str, bounce_address: str) -> str | None:
    """The token in `address` when it is `bounce_address` with a +token (any case), else None."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    b_local, _, b_domain = bounce_address.lower().rpartition("@")
    if domain != b_domain or not local.startswith(b_local + "+"):
        return None
    token = local[len(b_local) + 1:]
    return token if re.fullmatch(r"\d{1,12}-[a-z2-7]{16}", token) else None


def verify_verp(secret: bytes, token: str, addresses: list[str]) -> tuple[int, str] | None:
    """(edition id, address) of the delivery a genuine token names, found among that edition's
    `addresses` (the ledger's); None for a forged token or an address not in the list."""
    edition, _, mac = token.partition("-")
    for email in addresses:
        if hmac.compare_digest(mac, _verp_mac(secret, int(edition), email)):
            return int(edition), email
    return None


def verp_edition(token: str) -> int | None:
    """The edition a token claims, UNCHECKED: only to know which ledger rows to verify it against."""
    edition = token.partition("-")[0]
    return int(edition) if edition.isdigit() else None
