"""`newsletter doctor`: is everything `run`, `send` and `serve` need configured, reachable and accepted?

One line per check (ok / fail / skip) with the fix. Plain functions returning Check objects, so
the CLI only prints them and tests call them directly.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config, load_config, load_subscribers
from ..errors import ConfigError, StoreError
from ..store import Store


@dataclass
class Check:
    name: str
    state: str  # ok | fail | skip
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" — fix: {self.fix}" if self.fix and self.state != "ok" else ""
        return f"{self.state:<4}  {self.name:<11} {self.detail}{fix}"


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
            return Check("smtp", "fail", f"embedded sink cannot run ({e})", f"make {outbox} writable")
        return Check("smtp", "ok", f"embedded sink, ok: no [smtp] host, messages are written to {outbox}/")
    where = f"{s.host}:{s.port} ({s.security})"
    password = s.password()
    if s.username and not password:
        return Check("smtp", "fail", f"{where}: username {s.username!r} is set but ${s.password_env} is empty",
                     f"export {s.password_env}=... in the service's environment")
    try:
        ctx = smtp_context(cfg)
    except (OSError, ssl.SSLError) as e:
        return Check("smtp", "fail", f"[smtp] ca_file {s.ca_file!r} cannot be loaded ({e})",
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
        return Check("smtp", "fail", f"{where}: TLS failed ({e.reason or e})",
                     "check [smtp] security and port; for a private CA set [smtp] ca_file")
    except (OSError, smtplib.SMTPException) as e:
        return Check("smtp", "fail", f"{where}: cannot talk to the server ({type(e).__name__}: {e})",
                     "check [smtp] host, port and security, and that the relay is up")
    return Check("smtp", "ok", f"{where}: reachable, {auth}")


def check_llm(cfg: Config) -> Check:
    m = cfg.llm
    if not m.model:
        return Check("llm", "skip", "skip: no model configured ([llm] model is empty: the extractive analyzer runs)",
                     "set [llm] model (and the key in the env var named by api_key_env) for LLM analyses")
    key = m.api_key()
    keyless = m.model.startswith(("ollama", "ollama_chat")) or any(h in m.api_base for h in ("127.0.0.1", "localhost"))
    if not key and not keyless:
        return Check("llm", "fail", f"model {m.model!r} is set but ${m.api_key_env} is empty",
                     f"export {m.api_key_env}=... (or clear [llm] model to use the extractive analyzer)")
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
    except Exception as e:
        from .logs import mask

        msg = mask(str(e).strip().splitlines()[0][:160] if str(e).strip() else "")
        return Check("llm", "fail", f"model {m.model!r} did not answer ({type(e).__name__}: {msg})",
                     f"check [llm] model and api_base, and the key in ${m.api_key_env}")
    if not text:
        return Check("llm", "fail", f"model {m.model!r} answered with nothing", "check [llm] model")
    return Check("llm", "ok", f"model {m.model!r} answers ({text[:20]!r})")


def check_templates(cfg: Config) -> Check:
    """Templates load and parse, overrides included (what `run` checks before it starts)."""
    from .. import templating

    try:
        templating.check_templates(cfg)
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
        return Check("arxiv", "fail", f"{url}: {type(e).__name__}: {str(e)[:160]}",
                     "check the network and [arxiv] base_url (https://export.arxiv.org/api/query)")
    return Check("arxiv", "ok", f"{url}: reachable ({total} results for cat:{cats[0]})")


def doctor(config: str | Path | None = None, emit: Callable[[str], None] | None = None) -> list[Check]:
    """Every check in order; each one line (ok / fail / skip, and the fix). A bad config skips the rest."""
    out: list[Check] = []

    def add(c: Check) -> None:
        out.append(c)
        if emit:
            emit(c.line())

    c, cfg = check_config(config)
    add(c)
    if cfg is None:
        for name in ("subscribers", "store", "smtp", "llm", "arxiv", "templates"):
            add(Check(name, "skip", "skip: the config is not valid", "fix the config first"))
        return out
    for fn in (check_subscribers, check_store, check_smtp, check_llm, check_arxiv, check_templates):
        try:
            add(fn(cfg))
        except Exception as e:  # a check must never crash the others
            add(Check(fn.__name__.removeprefix("check_"), "fail", f"{type(e).__name__}: {e}", "see the log"))
    return out
