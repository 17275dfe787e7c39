"""`newsletter serve`: the web server behind `[web] public_url` (archive + one-click unsubscribe).

    /                                 the public archive index
    /archive/<date>/<profile>.html    one edition's complete report
    /unsubscribe?token=…              GET: a confirmation page with a button;
                                      POST (RFC 8058 one-click, or the button): suppress at once

It binds 127.0.0.1 only; put it behind the reverse proxy that answers for public_url (TLS
there). Tokens are HMACs of (list, address) with the secret from `[web] unsubscribe_secret_env`:
a forged or altered token is refused with 400 and changes nothing. Unsubscribing suppresses the
address for every list (the suppressions table is per address); the list is kept as detail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from html import escape
from urllib.parse import parse_qs

from ..config import Config
from ..deliver.tokens import TokenError, secret_from_env, verify_token
from ..render.archive import archive_for_path, index_page
from ..store import Store
from .server import LocalServer

log = logging.getLogger(__name__)

MAX_BODY = 16_384

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title>
<style>body{{font-family:-apple-system,"Segoe UI",Roboto,"PingFang SC","Microsoft YaHei",sans-serif;
max-width:36em;margin:3em auto;padding:0 1em;color:#222;line-height:1.5}}
button{{font-size:1em;padding:.5em 1.2em;border-radius:4px;border:1px solid #555;background:#fff;cursor:pointer}}
</style></head><body><h1>{title}</h1>{body}</body></html>
"""


def _page(title: str, body: str) -> str:
    return _PAGE.format(title=escape(title), body=body)


def unsubscribe_action(store: Store, cfg: Config, method: str, token: str) -> tuple[str, str]:
    """(HTTP status, HTML page) for a request to /unsubscribe; POST suppresses the address."""
    secret = secret_from_env(cfg)
    if secret is None:
        return "503 Service Unavailable", _page(
            "Unsubscribe unavailable", "<p>This server has no unsubscribe secret configured. "
            "Please reply to the newsletter to unsubscribe.</p>")
    try:
        email, list_name = verify_token(secret, token)
    except TokenError:
        return "400 Bad Request", _page(
            "Invalid link", "<p>This unsubscribe link is not valid (it may have been cut or altered). "
            "Please use the link from the newsletter itself, or reply to it to unsubscribe.</p>")
    if method == "POST":
        store.suppress(email, "unsubscribed", f"one-click from list {list_name}")
        log.info("unsubscribed one address from list %s", list_name)
        return "200 OK", _page(
            "Unsubscribed", f"<p><b>{escape(email)}</b> will receive no more newsletters.</p>")
    action = f"/unsubscribe?token={escape(token, quote=True)}"
    return "200 OK", _page(
        "Unsubscribe?",
        f"<p>Stop sending the <b>{escape(list_name)}</b> newsletter to <b>{escape(email)}</b>?</p>"
        f'<form method="post" action="{action}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        "<button type=\"submit\">Unsubscribe</button></form>",
    )


def make_app(store: Store, cfg: Config) -> Callable:
    """The public site as a WSGI app."""

    def app(environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET").upper()
        status, ctype, body = "200 OK", "text/html; charset=utf-8", ""
        form_action = "'none'"
        try:
            if path == "/unsubscribe":
                if method not in ("GET", "POST"):
                    status, body = "405 Method Not Allowed", _page("Not allowed", "<p>Use GET or POST.</p>")
                else:
                    query = parse_qs(environ.get("QUERY_STRING", ""))
                    token = (query.get("token") or [""])[0]
                    if method == "POST":
                        try:
                            length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY)
                        except ValueError:
                            length = 0
                        form = parse_qs(environ["wsgi.input"].read(length).decode("utf-8", "replace"))
                        token = token or (form.get("token") or [""])[0]
                    status, body = unsubscribe_action(store, cfg, method, token)
                    form_action = "'self'"
            elif method not in ("GET", "HEAD"):
                status, body = "405 Method Not Allowed", _page("Not allowed", "<p>Only GET here.</p>")
            elif path == "/":
                body = index_page([r for r in store.list_editions() if r["status"] in ("rendered", "sent")], cfg=cfg)
            elif path.startswith("/archive/") and (page := archive_for_path(store, cfg, path)) is not None:
                body = page
            else:
                raise LookupError
        except (LookupError, ValueError):
            status, body = "404 Not Found", _page("Not found", "<p>There is no such page.</p>")
        data = body.encode("utf-8")
        start_response(status, [
            ("Content-Type", ctype), ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Content-Security-Policy",
             f"default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
             f"frame-ancestors 'none'; form-action {form_action}"),
        ])
        return [data] if method != "HEAD" else [b""]

    return app


class WebServer(LocalServer):
    """The site on 127.0.0.1 in a background thread; `.url` is the bound address."""

    def __init__(self, store: Store, cfg: Config, port: int = 0):
        super().__init__(make_app(store, cfg), port, name="serve")


def serve(store: Store, cfg: Config, port: int | None = None, ready: Callable[[str], None] | None = None) -> None:
    """Serve until Ctrl-C (what `newsletter serve` runs)."""
    server = WebServer(store, cfg, cfg.web.port if port is None else port).start()
    try:
        if ready:
            ready(server.url)
        while server.thread.is_alive():
            server.thread.join(1.0)
    finally:
        server.close()

