"""`newsletter doctor`'s deliverability checks: the bounce mailbox, and the From domain's SPF, DKIM and
DMARC records as Gmail's and Yahoo's bulk-sender rules want them.

The DNS checks are the only DNS lookups the newsletter makes (dnspython; nothing else imports it),
and only here: `doctor --offline` skips them, and so does a setup that mails nobody outside (the
embedded sink, a local From domain). Each is one line, ok or warn (mail still goes out, but may land
in spam), with the exact record to publish as the fix.
"""

from __future__ import annotations

import re
from typing import Any

from ..config import Config
from .checks import Check, local_domain
from .errortext import shorten

SPF_LOOKUPS = ("include", "a", "mx", "ptr", "exists", "redirect")  # the terms that cost a DNS lookup


def from_domain(cfg: Config) -> str:
    from ..deliver.message import parse_address

    return parse_address(cfg.smtp.from_, "[smtp] from").domain.lower().rstrip(".")


def default_resolver() -> Any:
    import dns.resolver

    r = dns.resolver.Resolver()
    r.lifetime = 8.0
    return r


def txt(resolver: Any, name: str) -> list[str] | None:
    """The TXT strings at `name` (each record's strings joined); [] when it has none, None when it
    does not exist. Other failures (timeout, no nameserver) raise dns.exception.DNSException."""
    import dns.resolver

    try:
        answer = resolver.resolve(name, "TXT")
    except dns.resolver.NXDOMAIN:
        return None
    except dns.resolver.NoAnswer:
        return []
    return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]


def _spf_lookups(resolver: Any, record: str, depth: int = 0) -> int:
    """How many DNS lookups the record costs (RFC 7208 allows 10), following include: and redirect=."""
    n = 0
    for term in record.split()[1:]:
        t = term.lstrip("+-~?").lower()
        name = re.split(r"[:=/]", t, maxsplit=1)[0]
        if name not in SPF_LOOKUPS:
            continue
        n += 1
        target = re.split(r"[:=]", t, maxsplit=1)[1] if name in ("include", "redirect") and len(t) > len(name) else ""
        if target and depth < 10:
            found = [r for r in txt(resolver, target) or [] if r.lower().startswith("v=spf1")]
            n += _spf_lookups(resolver, found[0], depth + 1) if found else 0
    return n


def check_spf(cfg: Config, resolver: Any, domain: str) -> Check:
    fix = (f'publish one TXT record at {domain}: "v=spf1 include:<your relay\'s SPF domain> ~all" (your relay\'s '
           "documentation names it, e.g. include:_spf.google.com for Gmail)")
    records = [r for r in txt(resolver, domain) or [] if r.lower().startswith("v=spf1")]
    if not records:
        return Check("spf", "warn", f"{domain} has no SPF record: receivers cannot tell your relay may send for it",
                     fix)
    if len(records) > 1:
        return Check("spf", "warn", f"{domain} has {len(records)} SPF records: receivers treat that as an error "
                     "(permerror)", "merge them into one v=spf1 record")
    record = records[0]
    if re.search(r"(^|\s)[+?]?all\b", record.lower()) and not re.search(r"(^|\s)[-~]all\b", record.lower()):
        return Check("spf", "warn", f"{domain}: {record!r} lets any server send as {domain}",
                     "end the record with ~all (or -all) instead of +all / ?all")
    lookups = _spf_lookups(resolver, record)
    if lookups > 10:
        return Check("spf", "warn", f"{domain}: {record!r} needs {lookups} DNS lookups (at most 10 are allowed)",
                     "flatten includes you do not need")
    return Check("spf", "ok", f"{domain}: {record} ({lookups} lookup{'s' if lookups != 1 else ''})")


def check_dkim(cfg: Config, resolver: Any, domain: str) -> Check:
    from ..deliver.dkim import DKIMError, dns_record

    d = cfg.dkim
    if not d.enabled:
        return Check("dkim", "warn", "messages are not DKIM-signed ([dkim] is not set): Gmail and Yahoo want DKIM "
                     "for bulk mail", "generate a key (`openssl genrsa -out dkim.pem 2048`), set [dkim] domain, "
                     "selector and private_key_file, run `newsletter doctor` again and publish the record it prints")
    try:
        name, value = dns_record(cfg)
    except DKIMError as e:
        return Check("dkim", "fail", str(e), "fix [dkim] private_key_file / private_key_env")
    fix = f'publish a TXT record at {name}: "{value}"'
    aligned = domain == d.domain or domain.endswith("." + d.domain) or d.domain.endswith("." + domain)
    records = [r for r in txt(resolver, name) or [] if "p=" in r]
    if not records:
        return Check("dkim", "warn", f"{name} has no DKIM key: receivers cannot verify the signature", fix)
    published = {re.sub(r"\s+", "", m.group(1)) for r in records for m in [re.search(r"\bp=([^;]*)", r)] if m}
    mine = value.split("p=", 1)[1]
    if mine not in published:
        what = "an empty (revoked) key" if published == {""} else "another key"
        return Check("dkim", "warn", f"{name} publishes {what}, not the public key of the configured private key: "
                     "signatures fail", fix)
    if not aligned:
        return Check("dkim", "warn", f"[dkim] domain {d.domain} is not the From domain {domain}: DMARC needs them "
                     "aligned", f"set [dkim] domain = \"{domain}\" (and publish its key)")
    return Check("dkim", "ok", f"{name} publishes the configured key; signing From {domain}")


def check_dmarc(cfg: Config, resolver: Any, domain: str) -> Check:
    fix = (f'publish a TXT record at _dmarc.{domain}: "v=DMARC1; p=none; rua=mailto:dmarc@{domain}" '
           "(p=none reports without blocking; move to p=quarantine once reports are clean)")
    labels = domain.split(".")
    for name in dict.fromkeys([f"_dmarc.{domain}", f"_dmarc.{'.'.join(labels[-2:])}"]):
        records = [r for r in txt(resolver, name) or [] if r.lower().replace(" ", "").startswith("v=dmarc1")]
        if len(records) > 1:
            return Check("dmarc", "warn", f"{name} has {len(records)} DMARC records: receivers ignore them all",
                         "keep one")
        if records:
            tags = dict(t.strip().split("=", 1) for t in records[0].split(";") if "=" in t)
            policy = tags.get("p", "").strip().lower()
            if policy not in ("none", "quarantine", "reject"):
                return Check("dmarc", "warn", f"{name}: {records[0]!r} has no valid p= policy", fix)
            return Check("dmarc", "ok", f"{name}: p={policy}" + (" (monitoring only)" if policy == "none" else ""))
    return Check("dmarc", "warn", f"{domain} has no DMARC record (_dmarc.{domain})", fix)


def dns_checks(cfg: Config, resolver: Any = None, offline: bool = False) -> list[Check]:
    """SPF, DKIM and DMARC of the From domain: three lines (skipped offline or when nothing goes out)."""
    names = ("spf", "dkim", "dmarc")
    if offline:
        return [Check(n, "skip", "skip: --offline (no DNS lookups)", "run `newsletter doctor` without --offline")
                for n in names]
    try:
        domain = from_domain(cfg)
    except Exception as e:  # noqa: BLE001 - the `from` check says what is wrong with it
        return [Check(n, "skip", f"skip: no usable From address ({shorten(str(e))})", "fix [smtp] from") for n in names]
    if not cfg.smtp.host or local_domain(domain):
        why = "the embedded sink mails nobody" if not cfg.smtp.host else f"{domain} is a local domain"
        return [Check(n, "skip", f"skip: {why}", "set [smtp] host and a From address at your domain") for n in names]
    import dns.exception

    resolver = resolver or default_resolver()
    out = []
    for n, fn in zip(names, (check_spf, check_dkim, check_dmarc), strict=True):
        try:
            out.append(fn(cfg, resolver, domain))
        except dns.exception.DNSException as e:
            out.append(Check(n, "warn", f"cannot look up the {n.upper()} record of {domain}: {shorten(str(e))}",
                             "check this machine's DNS, then run `newsletter doctor` again"))
    return out


def check_mailbox(cfg: Config) -> Check:
    """The bounce mailbox: reachable, TLS verified, login accepted, the folder there; and whether VERP
    and mailto unsubscribes can work (both need the signing secret)."""
    from ..deliver.inbound.imap import Mailbox, MailboxError
    from ..deliver.tokens import secret_from_env

    m = cfg.mailbox
    if not m.host:
        return Check("mailbox", "skip", "skip: [mailbox] host is empty (bounces, complaints and mailto unsubscribes "
                     "are not read)", "set [mailbox] to the mailbox the envelope sender and the From address reach")
    try:
        with Mailbox(cfg) as box:
            new = len(box.new_uids())
            where = box.where
    except MailboxError as e:
        return Check("mailbox", "fail", str(e), "fix [mailbox] as the message says")
    if secret_from_env(cfg) is None:
        return Check("mailbox", "warn", f"{where} {m.folder}: {new} new; but ${cfg.web.unsubscribe_secret_env} is "
                     "empty: no VERP, and mailto unsubscribes cannot be verified (they are ignored)",
                     f"export {cfg.web.unsubscribe_secret_env}=<a long random string>")
    return Check("mailbox", "ok", f"{where} {m.folder}: login accepted, {new} new message(s); VERP "
                 + ("on" if m.verp else "off"))
