"""`newsletter serve`: the web server behind `[web] public_url` (archive, one-click unsubscribe and feedback).

    /                                 the public archive index
    /archive/<date>/<profile>.html    one edition's complete report
    /unsubscribe?token=…              GET: a confirmation page with a button;
                                      POST (RFC 8058 one-click, or the button): suppress at once
    /feedback/<token>                 "more / less like this" on one paper (feedback.py): GET
                                      confirms, POST records the vote

It binds 127.0.0.1 only; put it behind the reverse proxy that answers for public_url (TLS
there). Tokens are HMACs of (list, address) with the secret from `[web] unsubscribe_secret_env`:
a forged or altered token is refused with 400 and changes nothing. Unsubscribing suppresses the
address for the token's list only (other lists keep coming); the pages speak the list's language
and name it by its title.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from html import escape
from urllib.parse import parse_qs

from ..config import Config
from ..deliver.tokens import GENERATE_SECRET, TokenError, secret_from_env, secret_problem, unverified_list, verify_token
from ..render.archive import archive_for_path, index_page
from ..store import Store
from .feedback import PREFIX as FEEDBACK_PREFIX
from .feedback import Readers, feedback_response
from .pages import list_language, list_profile, page
from .server import LocalServer

log = logging.getLogger(__name__)

MAX_BODY = 16_384
ROUTES = "archive /, one-click /unsubscribe?token=…, feedback /feedback/<token>"  # what `serve` says it answers

# The unsubscribe pages in the list's language; {list} is the profile's title in quotes, or a
# generic phrase when the token names a list this config no longer has.
PAGES: dict[str, dict[str, str]] = {
    "en": {
        "quoted": "«{title}»",
        "generic": "this newsletter",
        "confirm_title": "Unsubscribe from {list}?",
        "confirm": "<p><b>{email}</b> will no longer receive {list}. Other lists you receive are not affected.</p>",
        "button": "Unsubscribe",
        "done_title": "Unsubscribed",
        "done": "<p>You will no longer receive {list} at <b>{email}</b>. "
                "Other lists you receive are not affected.</p>",
        "invalid_title": "Invalid link",
        "invalid": "<p>This unsubscribe link is not valid (it may have been cut or altered). "
                   "Please use the link from the newsletter itself, or reply to it to unsubscribe.</p>",
        "unavailable_title": "Unsubscribe unavailable",
        "unavailable": "<p>This server has no unsubscribe secret configured. "
                       "Please reply to the newsletter to unsubscribe.</p>",
    },
    "zh": {
        "quoted": "「{title}」",
        "generic": "本简报",
        "confirm_title": "退订{list}？",
        "confirm": "<p>确认后，<b>{email}</b> 将不再收到{list}。您订阅的其他栏目不受影响。</p>",
        "button": "确认退订",
        "done_title": "已退订",
        "done": "<p><b>{email}</b> 将不再收到{list}。您订阅的其他栏目不受影响。</p>",
        "invalid_title": "退订链接无效",
        "invalid": "<p>此退订链接无效（可能被截断或改动）。请使用简报邮件中的原始链接，或直接回复简报邮件退订。</p>",
        "unavailable_title": "暂时无法退订",
        "unavailable": "<p>本服务器未配置退订密钥。请直接回复简报邮件退订。</p>",
    },
}


def list_words(cfg: Config, list_name: str | None) -> tuple[str, dict[str, str], str]:
    """(language, its strings, how the page names the list): the profile's language and human
    title; English and a generic phrase for a list this config does not know (never the internal name)."""
    profile = list_profile(cfg, list_name)
    lang = list_language(profile)
    words = PAGES[lang]
    named = words["quoted"].format(title=profile.title) if profile is not None else words["generic"]
    return lang, words, named


def unsubscribe_action(store: Store, cfg: Config, method: str, token: str) -> tuple[str, str]:
    """(HTTP status, HTML page) for a request to /unsubscribe.

    GET only shows a confirmation with a button (link scanners fetch every link and must change
    nothing); POST (RFC 8058 one-click, or the button) suppresses the address for the token's list
    only, once: posting again finds it suppressed and writes nothing.
    """
    secret = secret_from_env(cfg)
    if secret is None:
        lang, w, _ = list_words(cfg, unverified_list(token))
        return "503 Service Unavailable", page(w["unavailable_title"], w["unavailable"], lang)
    try:
        email, list_name = verify_token(secret, token)
    except TokenError:
        lang, w, _ = list_words(cfg, unverified_list(token))
        return "400 Bad Request", page(w["invalid_title"], w["invalid"], lang)
    lang, w, named = list_words(cfg, list_name)
    fill = {"email": escape(email), "list": escape(named)}
    if method == "POST":
        with store.transaction():
            if email not in store.suppressed(list_name):
                store.suppress(email, "unsubscribed", "one-click", list_name=list_name)
                log.info("unsubscribed one address from list %s", list_name)
        return "200 OK", page(w["done_title"], w["done"].format(**fill), lang)
    action = f"/unsubscribe?token={escape(token, quote=True)}"
    return "200 OK", page(
        w["confirm_title"].format(list=named),
        w["confirm"].format(**fill)
        + f'<form method="post" action="{action}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        f'<button type="submit">{escape(w["button"])}</button></form>',
        lang,
    )


def _unsubscribe_request(store: Store, cfg: Config, environ: dict, method: str) -> tuple[str, str, list]:
    """/unsubscribe: the token from the query (RFC 8058 one-click) or the button's form."""
    if method not in ("GET", "POST"):
        return "405 Method Not Allowed", page("Not allowed", "<p>Use GET or POST.</p>"), [("Allow", "GET, POST")]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    token = (query.get("token") or [""])[0]
    if method == "POST":
        try:
            length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY)
        except ValueError:
            length = 0
        form = parse_qs(environ["wsgi.input"].read(length).decode("utf-8", "replace"))
        token = token or (form.get("token") or [""])[0]
    return (*unsubscribe_action(store, cfg, method, token), [])


def make_app(store: Store, cfg: Config) -> Callable:
    """The public site as a WSGI app."""
    readers = Readers(cfg)

    def app(environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET").upper()
        status, body, extra = "200 OK", "", []
        form_action = "'none'"
        try:
            if path == "/unsubscribe":
                status, body, extra = _unsubscribe_request(store, cfg, environ, method)
                form_action = "'self'"
            elif path.startswith(FEEDBACK_PREFIX):
                status, body, extra = feedback_response(store, cfg, readers, environ)
                form_action = "'self'"
            elif method not in ("GET", "HEAD"):
                status, body = "405 Method Not Allowed", page("Not allowed", "<p>Only GET here.</p>")
                extra = [("Allow", "GET, HEAD")]
            elif path == "/":
                body = index_page([r for r in store.list_editions() if r["status"] in ("rendered", "sent")], cfg=cfg)
            elif path.startswith("/archive/") and (archived := archive_for_path(store, cfg, path)) is not None:
                body = archived
            else:
                raise LookupError
        except (LookupError, ValueError):
            status, body = "404 Not Found", page("Not found", "<p>There is no such page.</p>")
        data = body.encode("utf-8")
        start_response(status, [
            ("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Content-Security-Policy",
             f"default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
             f"frame-ancestors 'none'; form-action {form_action}"),
            *extra,
        ])
        return [data] if method != "HEAD" else [b""]

    return app


class WebServer(LocalServer):
    """The site on 127.0.0.1 in a background thread; `.url` is the bound address."""

    def __init__(self, store: Store, cfg: Config, port: int = 0):
        super().__init__(make_app(store, cfg), port, name="serve")


def startup_warnings(cfg: Config) -> list[str]:
    """What `serve` should say before answering: a missing or weak secret would only show as 503s."""
    problem = secret_problem(cfg)
    return [f"{problem}; set it in the service's environment (generate one with {GENERATE_SECRET})"] if problem else []


def serve(store: Store, cfg: Config, port: int | None = None, ready: Callable[[str], None] | None = None) -> None:
    """Serve until Ctrl-C (what `newsletter serve` runs); says at start when unsubscribe cannot work."""
    for line in startup_warnings(cfg):
        print(f"warning: {line}", file=sys.stderr, flush=True)
    server = WebServer(store, cfg, cfg.web.port if port is None else port).start()
    try:
        if ready:
            ready(server.url)
        while server.thread.is_alive():
            server.thread.join(1.0)
    finally:
        server.close()

