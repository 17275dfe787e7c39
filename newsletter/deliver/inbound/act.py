"""What a verdict leads to, written in one transaction with the record that the message was read.

Who a bounce is about, most trusted first: the VERP token of the address it was sent to (signed,
names the delivery), the returned message's Message-ID matched against the ledger, then the DSN's
Final-Recipient (or the address in a bounce's text) when we ever mailed that address. A complaint
also looks at the signed unsubscribe token of the returned List-Unsubscribe header and the ARF
report's Original-Rcpt-To. A bounce or complaint about an address we never mailed is recorded and
ignored. An every-list suppression that exists already is never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ...config import Config
from ...store import Store
from ..tokens import TokenError, verify_token, verify_verp, verp_edition, verp_token_of
from .classify import Bounce, Verdict

READABLE = {"hard_bounce": "hard bounce", "soft_bounce": "soft bounce", "complaint": "complaint",
            "unsubscribe": "unsubscribe", "auto_reply": "auto-reply", "other": "other", "malformed": "malformed"}


@dataclass
class Context:
    store: Store
    cfg: Config
    secret: bytes | None
    bounce_address: str  # the envelope sender without VERP: where the +tokens are


@dataclass
class Acted:
    """What one message changed: lines for the person running `newsletter mailbox`, and the evidence row."""

    lines: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    email: str = ""
    list: str = ""
    edition_id: int | None = None


def _clip(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _by_verp(ctx: Context, v: Verdict) -> tuple[int, str] | None:
    if ctx.secret is None:
        return None
    for addr in v.addressed_to + v.returned_to:
        token = verp_token_of(addr, ctx.bounce_address)
        edition = verp_edition(token) if token else None
        if token and edition is not None:
            found = verify_verp(ctx.secret, token, ctx.store.delivery_addresses(edition))
            if found:
                return found
    return None


def _by_message_id(ctx: Context, v: Verdict) -> tuple[int, str] | None:
    for mid in v.returned_ids:
        found = ctx.store.delivery_by_message_id(mid)
        if found:
            return found
    return None


def _who(ctx: Context, v: Verdict, b: Bounce, many: bool) -> tuple[str, int | None, str]:
    """(address, edition id or None, how we know) of one bounce; address "" when not ours."""
    for how, found in (("VERP", _by_verp(ctx, v)), ("Message-ID", _by_message_id(ctx, v))):
        if found and (not many or not b.email or b.email == found[1].lower()):
            return found[1].lower(), found[0], how
    if b.email and ctx.store.known_address(b.email):
        return b.email, None, "Final-Recipient" if v.kind != "complaint" else "the report"
    return "", None, ""


def _suppress(ctx: Context, email: str, reason: str, detail: str, acted: Acted) -> None:
    every = [r for r in ctx.store.suppressions(email) if not r["list"]]
    if every:
        acted.lines.append(f"{email}: already suppressed ({every[0]['reason']})")
        return
    ctx.store.suppress(email, reason, detail)
    acted.suppressed.append(f"{email} ({READABLE[reason] if reason in READABLE else reason})")
    acted.lines.append(f"{email}: suppressed for every list ({READABLE.get(reason, reason)})")


def _bounce(ctx: Context, v: Verdict, key: str, acted: Acted) -> None:
    mb = ctx.cfg.mailbox
    for b in v.bounces:
        email, edition, how = _who(ctx, v, b, len(v.bounces) > 1)
        if not email:
            acted.lines.append(f"ignored {READABLE[b.kind]} for {b.email or 'an unknown address'}: never mailed by us")
            continue
        acted.email, acted.edition_id = acted.email or email, acted.edition_id or edition
        detail = _clip(f"{b.status} {b.diagnostic}".strip() + f" (message {v.message_id or key}; found by {how})")
        ctx.store.add_bounce_event(email, b.kind, edition, b.status, _clip(b.diagnostic, 500), key)
        if b.kind == "hard_bounce":
            _suppress(ctx, email, "hard_bounce", detail, acted)
            continue
        since = (datetime.now(UTC) - timedelta(days=mb.soft_bounce_days)).isoformat(timespec="seconds")
        n = ctx.store.soft_bounce_count(email, since)
        if n >= mb.soft_bounce_limit:
            _suppress(ctx, email, "soft_bounce", _clip(f"{n} soft bounces in {mb.soft_bounce_days} days; last: {detail}"),
                      acted)
        else:
            acted.lines.append(f"{email}: soft bounce {n} of {mb.soft_bounce_limit} within {mb.soft_bounce_days} days")


def _complaint(ctx: Context, v: Verdict, key: str, acted: Acted) -> None:
    email, edition, how = "", None, ""
    for tok in v.tokens if ctx.secret else []:
        try:
            email = verify_token(ctx.secret, tok)[0]
            how = "the signed List-Unsubscribe token"
            break
        except TokenError:
            continue
    if not email:
        candidates = v.bounces or [Bounce(a, "complaint") for a in v.returned_to] or [Bounce("", "complaint")]
        for b in candidates:
            email, edition, how = _who(ctx, v, b, False)
            if email:
                break
    if not email:
        acted.lines.append("ignored complaint: it names no address we mailed")
        return
    acted.email, acted.edition_id = email.lower(), edition
    ctx.store.add_bounce_event(email, "complaint", edition, "", f"ARF feedback-type {v.feedback_type}", key)
    _suppress(ctx, email.lower(), "complaint",
              _clip(f"spam complaint (ARF {v.feedback_type}) from {v.sender or 'a feedback loop'}; message "
                    f"{v.message_id or key}; found by {how}"), acted)


def _unsubscribe(ctx: Context, v: Verdict, key: str, acted: Acted) -> None:
    if ctx.secret is None:
        acted.lines.append(f"ignored unsubscribe request from {v.sender}: no secret in "
                           f"${ctx.cfg.web.unsubscribe_secret_env} to check its token")
        return
    for tok in v.tokens:
        try:
            email, list_name = verify_token(ctx.secret, tok)
        except TokenError:
            continue
        acted.email, acted.list = email, list_name
        ctx.store.add_bounce_event(email, "unsubscribe", None, "", f"mailto unsubscribe from {list_name}", key)
        ctx.store.suppress(email, "unsubscribed", _clip(f"mailto unsubscribe from {v.sender or 'unknown'} "
                                                        f"(message {v.message_id or key})"), list_name=list_name)
        acted.lines.append(f"{email}: unsubscribed from {list_name} (mailto)")
        return
    acted.lines.append(f"ignored unsubscribe request from {v.sender}: its token's signature does not match")


def act(ctx: Context, v: Verdict, key: str) -> Acted:
    """Apply the verdict (call inside the store's transaction, with record_inbound)."""
    acted = Acted()
    if v.kind in ("hard_bounce", "soft_bounce"):
        _bounce(ctx, v, key, acted)
    elif v.kind == "complaint":
        _complaint(ctx, v, key, acted)
    elif v.kind == "unsubscribe":
        _unsubscribe(ctx, v, key, acted)
    if not acted.lines:
        acted.lines.append(f"ignored ({READABLE.get(v.kind, v.kind)}: {v.why})")
    return acted


def evidence(v: Verdict, key: str, acted: Acted) -> dict:
    """The `inbound_messages` row: the decision and what it rests on."""
    first = next((b for b in v.bounces if b.kind), None)
    return {
        "key": key, "message_id": v.message_id, "kind": v.kind, "action": _clip("; ".join(acted.lines), 500),
        "email": acted.email, "list": acted.list, "edition_id": acted.edition_id,
        "status": first.status if first else "",
        "detail": _clip(first.diagnostic if first and first.diagnostic else v.why, 500),
        "sender": v.sender, "subject": _clip(v.subject, 200),
    }
