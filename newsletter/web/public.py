"""`newsletter serve`: the web server behind `[web] public_url` (archive, one-click unsubscribe and feedback).

    /                                 the public archive index
    /archive/<date>/<profile>.html    one edition's complete report
    /unsubscribe?token=…              GET: a confirmation page with a button;
                                      POST (RFC 8058 one-click, or the button): suppress at once
    /feedback/<token>                 "more / less like this" on one paper (feedback.py): GET
                                      confirms, POST records the vote

It binds `[web] host` (127.0.0.1 unless configured otherwise) on the production server (serving.py:
waitress, each worker thread with its own store connection, writes committed in groups), behind
the guard (guard.py: limits, proxies, one access-log line per request). Put it behind the reverse
proxy that answers for public_url (TLS there). GET, HEAD and OPTIONS never change anything (link
scanners fetch every link); POST does, once. The index and archive pages are built once per
edition (cache.py). Tokens are HMACs of (list, address) with the secret from `[web] unsubscribe_secret_env`:
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
from ..ops import shutdown
from ..render.archive import ARCHIVE_PATH, archive_for_path, index_page
from ..store import Store
from ..store.threads import ThreadStores
from .access import AccessLog
from .cache import CachedPage, PageCache
from .feedback import FORM_METHODS, Readers, feedback_response
from .feedback import PREFIX as FEEDBACK_PREFIX
from .guard import guard
from .pages import list_language, list_profile, page
from .serving import DRAIN_SECONDS, PublicServer

log = logging.getLogger(__name__)

MAX_BODY = 16_384
PAGE_METHODS = "GET, HEAD, OPTIONS"
_NOT_FOUND = page("Not found", "<p>There is no such page.</p>")
_NOT_ALLOWED = page("Not allowed", "<p>This method is not allowed here.</p>")
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


def unsubscribe_action(store: Store, cfg: Config, method: str, token: str,
                       write: Callable | None = None) -> tuple[str, str]:
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
        write = write or (lambda fn: fn(store))
        if write(lambda s: s.unsubscribe_once(email, list_name, "one-click")):
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


def _unsubscribe_request(store: Store, cfg: Config, environ: dict, method: str,
                         write: Callable | None) -> tuple[str, str, list]:
    """/unsubscribe: the token from the query (RFC 8058 one-click) or the button's form; HEAD is GET
    without the body (the guard drops it)."""
    query = parse_qs(environ.get("QUERY_STRING", ""))
    token = (query.get("token") or [""])[0]
    if method == "POST":
        try:
            length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY)
        except ValueError:
            length = 0
        form = parse_qs(environ["wsgi.input"].read(max(length, 0)).decode("utf-8", "replace"))
        token = token or (form.get("token") or [""])[0]
    return (*unsubscribe_action(store, cfg, "POST" if method == "POST" else "GET", token, write), [])


def allowed_methods(path: str) -> str | None:
    """The methods a path answers (its Allow header), or None when it is none of ours."""
    if path == "/unsubscribe" or path.startswith(FEEDBACK_PREFIX) or path == "*":
        return FORM_METHODS
    if path == "/" or ARCHIVE_PATH.fullmatch(path):
        return PAGE_METHODS
    return None


def _headers(ctype: str, size: int | None, cache: str, form_action: str, extra: list) -> list[tuple[str, str]]:
    return [
        *([("Content-Type", ctype)] if ctype else []),
        *([("Content-Length", str(size))] if size is not None else []),
        ("Cache-Control", cache), ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
        ("Content-Security-Policy",
         f"default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
         f"frame-ancestors 'none'; form-action {form_action}"),
        *extra,
    ]


def make_app(store: Store | ThreadStores, cfg: Config, cache: PageCache | None = None) -> Callable:
    """The public site as a WSGI app on a Store (one thread at a time: the simple server) or on
    ThreadStores (each worker its own connection; writes through its group-commit queue). The index
    and the archive pages come from `cache`."""
    if isinstance(store, ThreadStores):
        store_of, write = store.get, store.write
    else:
        store_of, write = (lambda: store), None
    readers = Readers(cfg)
    pages = cache if cache is not None else PageCache()

    def app(environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET").upper()
        allow = allowed_methods(path)
        status, body, extra, form_action = "404 Not Found", _NOT_FOUND, [], "'none'"
        if allow is not None and method == "OPTIONS":
            start_response("204 No Content", _headers("", None, "no-store", "'none'", [("Allow", allow)]))
            return [b""]
        if allow is not None and method not in allow.split(", "):
            status, body, extra = "405 Method Not Allowed", _NOT_ALLOWED, [("Allow", allow)]
        elif path == "/unsubscribe":
            status, body, extra = _unsubscribe_request(store_of(), cfg, environ, method, write)
            form_action = "'self'"
        elif path.startswith(FEEDBACK_PREFIX):
            status, body, extra = feedback_response(store_of(), cfg, readers, environ, write)
            form_action = "'self'"
        elif allow is not None:
            found = pages.get(store_of(), path, lambda: _public_page(store_of(), cfg, path))
            if found is not None:
                return _cached(environ, start_response, found)
        data = body.encode("utf-8")
        start_response(status, _headers("text/html; charset=utf-8", len(data), "no-store", form_action, extra))
        return [data] if method != "HEAD" else [b""]

    return app


def _public_page(store: Store, cfg: Config, path: str) -> str | None:
    if path == "/":
        return index_page([r for r in store.list_editions() if r["status"] in ("rendered", "sent")], cfg=cfg)
    return archive_for_path(store, cfg, path)


def _cached(environ: dict, start_response: Callable, found: CachedPage) -> list[bytes]:
    """A page that stays the same until the next edition: proxies and browsers may keep it 5 minutes,
    and ask again with If-None-Match (304, no body)."""
    common = [("ETag", found.etag)]
    cache = "public, max-age=300"
    if found.etag in environ.get("HTTP_IF_NONE_MATCH", ""):
        start_response("304 Not Modified", _headers("", None, cache, "'none'", common))
        return [b""]
    start_response("200 OK", _headers("text/html; charset=utf-8", len(found.data), cache, "'none'", common))
    return [found.data] if environ.get("REQUEST_METHOD", "GET").upper() != "HEAD" else [b""]


class WebServer(PublicServer):
    """The public site on `[web] host` (127.0.0.1 unless configured) in a background thread, as
    `serve` runs it: `.url` is the bound address; `with` starts it, `.close()` drains and stops it.
    Each worker thread has its own store connection on `store`'s file (an in-memory store, tests
    only, is served by one thread)."""

    def __init__(self, store: Store, cfg: Config, port: int | None = None, host: str | None = None):
        w = cfg.web
        self.stores = ThreadStores(store.path) if store.path != ":memory:" else None
        self.cache = PageCache()
        app = make_app(self.stores if self.stores is not None else store, cfg, self.cache)
        access = AccessLog(None if not w.access_log else w.access_log if w.access_log == "-"
                           else cfg.resolve(w.access_log))
        super().__init__(
            guard(app, access, w.trusted_proxies, per_client=max(2, w.threads // 2)),
            access, host=host or w.host, port=w.port if port is None else port,
            threads=w.threads if self.stores else 1, client_timeout=w.client_timeout,
            connections_per_client=w.connections_per_client, max_connections=w.max_connections,
            trusted_proxies=w.trusted_proxies, name="serve",
        )

    def close(self, grace: float = DRAIN_SECONDS) -> None:
        try:
            super().close(grace)
        finally:
            if self.stores is not None:
                self.stores.close()


def startup_warnings(cfg: Config) -> list[str]:
    """What `serve` should say before answering: a missing or weak secret would only show as 503s."""
    problem = secret_problem(cfg)
    return [f"{problem}; set it in the service's environment (generate one with {GENERATE_SECRET})"] if problem else []


def serve(store: Store, cfg: Config, port: int | None = None, ready: Callable[[str], None] | None = None) -> None:
    """Serve until SIGTERM or Ctrl-C (what `newsletter serve` runs): then stop taking connections,
    finish the requests in flight, and return within a second. Says at start when unsubscribe cannot work."""
    for line in startup_warnings(cfg):
        print(f"warning: {line}", file=sys.stderr, flush=True)
    shutdown.reset()
    with shutdown.graceful(), WebServer(store, cfg, port) as server:
        if ready:
            ready(server.url)
        while not shutdown.wait(1.0) and server.running:
            pass
        if shutdown.stop_requested():
            log.warning("serve: %s; finishing the requests in flight", shutdown.stop_reason())
