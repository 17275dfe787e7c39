"""`newsletter doctor`: is everything `run`, `send` and `serve` need configured, reachable and accepted?

One line per check (ok / fail / skip) with the fix. Plain functions returning Check objects, so
the CLI only prints them and tests call them directly. In order: config, subscribers, store,
smtp (the relay or the embedded sink), from (a sendable From/Reply-To with a real relay), llm
(the same preflight `run` does, then one tiny call), arxiv, web (the unsubscribe secret, https,
the local port `serve` uses), publish (the folder `[web] publish_dir` names), templates. Errors
are shortened at a sentence or word boundary (`shorten`) and network noise is read as "cannot
resolve host X" / "connection refused" (`explain`).
"""

from __future__ import annotations

import ipaddress
import os
import smtplib
import socket
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..config import Config, load_config
from ..errors import ConfigError, StoreError
from ..roster import load_subscribers
from ..store import Store
from .checks import Check, is_ip, local_domain
from .errortext import explain, shorten


def check_config(path: str | Path | None) -> tuple[Check, Config | None]:
    try:
        cfg = load_config(path)
    except ConfigError as e:
        return Check("config", "fail", str(e), "edit the file as the message says"), None
    return Check("config", "ok", f"{cfg.source}: {len(cfg.profiles)} profile(s), cron {cfg.schedule.cron!r} "
                 f"in {cfg.schedule.timezone}"), cfg


def check_subscribers(cfg: Config) -> Check:
    try:
        subs = load_subscribers(cfg)
    except ConfigError as e:
        return Check("subscribers", "fail", str(e), "edit the subscriber file as the message says")
    if not subs:
        return Check("subscribers", "fail", f"no subscribers in {cfg.resolve(cfg.subscribers_dir)}",
                     "add one with `newsletter subscribers add EMAIL`")
    return Check("subscribers", "ok", f"{len(subs)} subscriber(s) in {cfg.resolve(cfg.subscribers_dir)}")


def check_store(cfg: Config) -> Check:
    try:
        store = Store.open(cfg.store_path)
        try:
            store.check_writable()
        finally:
            store.close()
    except StoreError as e:
        return Check("store", "fail", str(e), f"make {cfg.store_path.parent} writable or set [store] path")
    return Check("store", "ok", f"{cfg.store_path} is writable")


def smtp_context(cfg: Config) -> ssl.SSLContext:
    """Certificates are always verified; [smtp] ca_file adds a CA to trust (a private relay, tests)."""
    ctx = ssl.create_default_context()
    if cfg.smtp.ca_file:
        ctx.load_verify_locations(cafile=str(cfg.resolve(cfg.smtp.ca_file)))
    return ctx


def check_smtp(cfg: Config) -> Check:
    s = cfg.smtp
    if not s.host:
        from ..deliver.sink import outbox_sink

        outbox = cfg.resolve(s.outbox)
        try:
            outbox.mkdir(parents=True, exist_ok=True)
            probe = outbox / ".doctor-probe"
            probe.write_text("ok")
            probe.unlink()
            with outbox_sink(outbox) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as c:
                c.noop()
        except (OSError, RuntimeError, smtplib.SMTPException) as e:
            return Check("smtp", "fail", f"embedded sink cannot run: {explain(e)}", f"make {outbox} writable")
        return Check("smtp", "ok", f"embedded sink, ok: no [smtp] host, messages are written to {outbox}/")
    where = f"{s.host}:{s.port} ({s.security})"
    password = s.password()
    if s.username and not password:
        return Check("smtp", "fail", f"{where}: username {s.username!r} is set but ${s.password_env} is empty",
                     f"export {s.password_env}=... in the service's environment")
    try:
        ctx = smtp_context(cfg)
    except (OSError, ssl.SSLError) as e:
        return Check("smtp", "fail", f"[smtp] ca_file {s.ca_file!r} cannot be loaded: {explain(e)}",
                     "point [smtp] ca_file at a PEM CA certificate, or leave it empty")
    try:
        if s.security == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=min(s.timeout, 20), context=ctx)
        else:
            conn = smtplib.SMTP(s.host, s.port, timeout=min(s.timeout, 20))
        with conn:
            conn.ehlo()
            if s.security == "starttls":
                conn.starttls(context=ctx)
                conn.ehlo()
            if s.username:
                conn.login(s.username, password or "")
                auth = f"AUTH accepted for {s.username!r}"
            else:
                auth = "no AUTH configured ([smtp] username is empty)"
            conn.noop()
    except smtplib.SMTPAuthenticationError as e:
        return Check("smtp", "fail", f"{where}: AUTH refused for {s.username!r} ({e.smtp_code})",
                     f"check [smtp] username and the password in ${s.password_env}")
    except smtplib.SMTPNotSupportedError as e:
        return Check("smtp", "fail", f"{where}: {e}", "check [smtp] security (starttls | ssl | none) and port")
    except ssl.SSLError as e:
        why = e.verify_message if isinstance(e, ssl.SSLCertVerificationError) else (e.reason or shorten(str(e)))
        return Check("smtp", "fail", f"{where}: TLS failed ({why})",
                     "check [smtp] security and port; for a private CA set [smtp] ca_file")
    except (OSError, smtplib.SMTPException) as e:
        return Check("smtp", "fail", f"{where}: cannot talk to the server: {explain(e, f'{s.host}:{s.port}')}",
                     "check [smtp] host, port and security, and that the relay is up")
    return Check("smtp", "ok", f"{where}: reachable, {auth}")


def check_llm(cfg: Config) -> Check:
    m = cfg.llm
    if not m.model:
        return Check("llm", "skip", "skip: no model configured ([llm] model is empty: the extractive analyzer runs)",
                     "set [llm] model (and the key in the env var named by api_key_env) for LLM analyses")
    from ..llm import preflight
    from ..llm.client import keyless

    if not m.api_key() and not keyless(m):
        return Check("llm", "fail", f"model {m.model!r} is set but ${m.api_key_env} is empty",
                     f"export {m.api_key_env}=... (or clear [llm] model to use the extractive analyzer)")
    problem = preflight(m)  # what `run` refuses before any work (a model litellm cannot route...)
    if problem:
        detail, _, fix = problem.rpartition("; ")
        return Check("llm", "fail", shorten(detail or problem),
                     f"{fix if detail else 'check [llm] model'} (a provider litellm knows, e.g. "
                     "openai/gpt-4o-mini or ollama/qwen2.5:14b; the same for fallback_models)")
    key = m.api_key()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    kw: dict[str, Any] = {"timeout": min(m.timeout, 30), "num_retries": 0, "max_tokens": 8}
    if m.api_base:
        kw["api_base"] = m.api_base
    if key:
        kw["api_key"] = key
    try:
        r = litellm.completion(model=m.model, messages=[{"role": "user", "content": "Reply with the word: ok"}], **kw)
        text = (r.choices[0].message.content or "").strip()
    except Exception as e:  # noqa: BLE001 - litellm raises many kinds; each becomes one line
        return Check("llm", "fail", f"model {m.model!r} did not answer: {explain(e)}",
                     f"check [llm] model and api_base, and the key in ${m.api_key_env}")
    if not text:
        return Check("llm", "fail", f"model {m.model!r} answered with nothing", "check [llm] model")
    return Check("llm", "ok", f"model {m.model!r} answers ({text[:20]!r})")


def check_templates(cfg: Config) -> Check:
    """Templates load and parse, overrides included (what `run` checks before it starts)."""
    from .. import templating
    from ..pipeline import check_templates

    try:
        check_templates(cfg)
    except ConfigError as e:
        return Check("templates", "fail", str(e).removeprefix("templates: "),
                     f"fix or delete the override in {templating.override_dir(cfg)}")
    folder = templating.override_dir(cfg)
    names = templating.override_names(folder)
    if not names:
        return Check("templates", "ok", f"the package's templates (no overrides in {folder})")
    return Check("templates", "ok", f"{len(names)} override(s) in {folder}: {', '.join(names)}")


def check_arxiv(cfg: Config) -> Check:
    import requests

    cats = sorted({c for p in cfg.profiles for c in p.categories})
    q = {"search_query": f"cat:{cats[0]}", "start": "0", "max_results": "1"}
    url = cfg.arxiv.base_url
    try:
        r = requests.get(url, params=q, timeout=min(cfg.arxiv.timeout, 30),
                         headers={"User-Agent": "newsletter-doctor"})
        r.raise_for_status()
        root = ET.fromstring(r.content)
        total = root.findtext("{http://a9.com/-/spec/opensearch/1.1/}totalResults")
        if total is None:
            raise ValueError("the answer is not an arXiv Atom feed (no opensearch:totalResults)")
    except (requests.RequestException, ET.ParseError, ValueError) as e:
        return Check("arxiv", "fail", f"{url}: {explain(e)}",
                     "check the network and [arxiv] base_url (https://export.arxiv.org/api/query)")
    return Check("arxiv", "ok", f"{url}: reachable ({total} results for cat:{cats[0]})")


def check_from(cfg: Config) -> Check:
    """The From (and Reply-To) every message carries: a valid address, and with a real relay, one
    at a domain that can send mail (`…@localhost` only works with the embedded sink)."""
    from ..deliver.message import MessageError, parse_address

    s = cfg.smtp
    try:
        sender = parse_address(s.from_, "[smtp] from")
        reply = parse_address(s.reply_to, "[smtp] reply_to") if s.reply_to else None
    except MessageError as e:
        return Check("from", "fail", str(e), 'write it as "Name <newsletter@your-domain.org>"')
    if not s.host:
        return Check("from", "ok", f"{sender.addr_spec} (the embedded sink keeps mail here; "
                     "use an address at your domain before setting [smtp] host)")
    for label, addr in (("[smtp] from", sender), ("[smtp] reply_to", reply)):
        if addr is not None and local_domain(addr.domain):
            return Check("from", "fail", f"{label} {addr.addr_spec} is a local address but mail goes out "
                         f"through {s.host}: receiving servers reject or junk it and replies cannot come back",
                         f'set {label} to an address at a domain you send for, e.g. "arXiv Daily '
                         f'<newsletter@your-domain.org>"')
    from ..roster import normalize_email

    try:
        normalize_email(sender.addr_spec)
    except ValueError as e:
        return Check("from", "fail", f"[smtp] from {sender.addr_spec}: {shorten(str(e))}",
                     'write it as "Name <newsletter@your-domain.org>"')
    return Check("from", "ok", f"{sender.addr_spec}" + (f", replies to {reply.addr_spec}" if reply else ""))


def _loopback(host: str | None) -> bool:
    h = (host or "").lower()
    return h == "localhost" or h.endswith(".localhost") or (is_ip(h) and ipaddress.ip_address(h).is_loopback)


def _probe_host(host: str) -> str:
    """Where to reach a server bound to `host`: loopback for a wildcard address."""
    if host in ("0.0.0.0", "::"):
        return "127.0.0.1" if host == "0.0.0.0" else "[::1]"
    return f"[{host}]" if ":" in host else host


def _running_serve(cfg: Config) -> str:
    """Ask whatever listens on [web] host:port for a bogus unsubscribe: our `serve` answers 400
    with a secret and 503 without one. '' when nothing listens."""
    import requests

    url = f"http://{_probe_host(cfg.web.host)}:{cfg.web.port}/unsubscribe?token=doctor-probe"
    session = requests.Session()
    session.trust_env = False  # loopback: never through an HTTP proxy from the environment
    try:
        with session:
            r = session.get(url, timeout=5)
    except requests.RequestException:
        return "other"
    return {400: "ok", 503: "no-secret"}.get(r.status_code, "other")


def check_web(cfg: Config) -> Check:
    """What `serve` and the links in every message need when `[web] public_url` is set: the signing
    secret (else send refuses and the page answers 503), https, and the local port."""
    from ..deliver.tokens import GENERATE_SECRET, secret_problem

    w = cfg.web
    if not w.public_url:
        links = f"archive links to {w.archive_url}" if w.archive_url else "no archive links"
        return Check("web", "skip", f"skip: [web] public_url is empty (mail carries a mailto unsubscribe link "
                     f"only, {links}; `serve` is not needed)",
                     "set [web] public_url and run `newsletter serve` behind it for one-click unsubscribe")
    problem = secret_problem(cfg)
    if problem:
        return Check("web", "fail", problem,
                     f"export {w.unsubscribe_secret_env}=\"$({GENERATE_SECRET})\" where `run`, `send` and "
                     "`serve` run, and keep it: changing it breaks the links already mailed")
    url = urlparse(w.public_url)
    if url.scheme != "https" and not _loopback(url.hostname):
        return Check("web", "fail", f"[web] public_url {w.public_url} is plain http: the unsubscribe token and "
                     "the reader's address travel in clear, and mail clients distrust such links",
                     "put `newsletter serve` behind a TLS reverse proxy and set public_url to https://...")
    where = f"[{w.host}]:{w.port}" if ":" in w.host else f"{w.host}:{w.port}"
    with socket.socket(socket.AF_INET6 if ":" in w.host else socket.AF_INET) as sock:
        try:
            sock.bind((w.host, w.port))
            state = f"port {w.port} is free for `newsletter serve`"
        except OSError:
            state = ""
    if not state:
        running = _running_serve(cfg)
        if running == "no-secret":
            return Check("web", "fail", f"`serve` on {where} answers 503: it was started without "
                         f"${w.unsubscribe_secret_env}", "restart `newsletter serve` with the variable set")
        if running == "other":
            return Check("web", "fail", f"{where} is taken by something that is not `newsletter serve`",
                         "stop it, or set [web] port (and the reverse proxy) to a free port")
        state = f"`serve` answers on {where}"
    return Check("web", "ok", f"{w.public_url}: unsubscribe links signed with ${w.unsubscribe_secret_env}; {state}")


def check_publish(cfg: Config) -> Check:
    """Where `newsletter schedule` publishes the static site after each run ([web] publish_dir): a
    folder publish may write (new or empty, or one it wrote), beside which it can make the new tree."""
    from ..errors import UsageError
    from .publish import MANIFEST, check_outdir

    if not cfg.web.publish_dir:
        return Check("publish", "skip", "skip: [web] publish_dir is empty (`newsletter publish OUTDIR` writes the "
                     "static site when you run it)", "set [web] publish_dir to publish after every scheduled run")
    try:
        out = check_outdir(cfg.resolve(cfg.web.publish_dir))
        probe = out.with_name(f".{out.name}.publish-doctor-{os.getpid()}")
        probe.mkdir()
        probe.rmdir()
    except UsageError as e:
        return Check("publish", "fail", str(e), "fix [web] publish_dir")
    except OSError as e:
        return Check("publish", "fail", f"{cfg.web.publish_dir}: cannot write beside it ({e.strerror})",
                     "make its folder writable for this user, or set [web] publish_dir elsewhere")
    where = cfg.web.archive_url or cfg.web.public_url or "no [web] archive_url or public_url: feeds use relative links"
    state = "published" if (out / MANIFEST).is_file() else "not published yet"
    return Check("publish", "ok", f"{out}: {state}; served at {where}")


CHECKS: tuple[Callable[[Config], Check], ...] = (
    check_subscribers, check_store, check_smtp, check_from, check_llm, check_arxiv, check_web, check_publish,
    check_templates,
)


def doctor(config: str | Path | None = None, emit: Callable[[str], None] | None = None, *, offline: bool = False,
           resolver: Any = None) -> list[Check]:
    """Every check in order; each one line (ok / warn / fail / skip, and the fix). A bad config skips the rest.
    Then the bounce mailbox and the From domain's SPF, DKIM and DMARC (ops/deliverability.py; no DNS
    lookup with `offline`; `resolver`: a dnspython resolver, e.g. one asking a test's DNS server)."""
    from .deliverability import check_mailbox, dns_checks

    out: list[Check] = []

    def add(c: Check) -> None:
        out.append(c)
        if emit:
            emit(c.line())

    c, cfg = check_config(config)
    add(c)
    if cfg is None:
        for name in [fn.__name__.removeprefix("check_") for fn in CHECKS] + ["mailbox", "spf", "dkim", "dmarc"]:
            add(Check(name, "skip", "skip: the config is not valid", "fix the config first"))
        return out
    for fn in (*CHECKS, check_mailbox, lambda cfg: dns_checks(cfg, resolver, offline)):
        try:
            found = fn(cfg)
        except Exception as e:  # a check must never crash the others
            name = getattr(fn, "__name__", "dns").removeprefix("check_").replace("<lambda>", "dns")
            found = Check(name, "fail", f"the check itself crashed: {explain(e)}", "report this with the line above")
        for one in found if isinstance(found, list) else [found]:
            add(one)
    return out
