"""`newsletter preview`: the archive on 127.0.0.1, each edition as its subscribers see it.

Pages (all read the stored, already rendered edition; nothing is rendered again):

    /                               every edition: date, profile, papers, status
    /edition/<id>                   the email (personalised for a sample or `--as` recipient)
                                    beside its text part, and the Markdown below
    /edition/<id>/email.html        the HTML part alone, exactly as sent
    /edition/<id>/text.txt          the text part alone
    /edition/<id>/issue.md          the canonical Markdown
    /edition/<id>/message.eml       with --as: the recipient's whole message (headers included)
    /archive/<date>/<profile>.html  the complete report (the public archive page)

Only 127.0.0.1 is ever bound. A single-threaded WSGI server in a background thread: the
SQLite connection is never used by two requests at once.
"""

from __future__ import annotations

import logging
import re
import webbrowser
from dataclasses import dataclass
from datetime import date
from html import escape

from ..deliver import message_factory, new_message_id
from ..errors import UsageError
from ..models import Edition, Subscriber
from ..placeholders import personalize
from ..render import ui
from ..render.archive import archive_for_path, email_fragment, index_page, page_context
from ..render.email import is_shortened, render_page
from ..roster import load_subscribers
from ..wording import plural
from .server import LocalServer

log = logging.getLogger(__name__)

SAMPLE = Subscriber(email="reader@example.org", name="Sample Reader", profiles=[])


class PreviewError(UsageError):
    """The preview cannot start (unknown subscriber, no such edition...): exit 2 with this message."""


@dataclass
class Recipient:
    email: str
    name: str
    sample: bool = True


def find_recipient(cfg, email: str | None) -> Recipient:
    """The `--as` subscriber from the subscriber files, or the sample reader."""
    if not email:
        return Recipient(SAMPLE.email, SAMPLE.name, True)
    for s in load_subscribers(cfg):
        if s.email.lower() == email.strip().lower():
            return Recipient(s.email, s.name, False)
    raise PreviewError(f"--as {email}: no such subscriber in {cfg.resolve(cfg.subscribers_dir)}")


def _message(store, cfg, ed: Edition, who: Recipient):
    """The recipient's exact message as the delivery code builds it."""
    factory = message_factory(cfg, ed, store.get_picks(ed.id) if ed.id is not None else None)
    mid = ""
    if ed.id is not None:
        for d in store.deliveries(ed.id):
            if d.email.lower() == who.email.lower():
                mid = d.message_id
    return factory.build_message(who.email, who.name, mid or new_message_id(factory.domain))


def personalised_parts(store, cfg, ed: Edition, who: Recipient) -> tuple[str, str, str]:
    """(html, text, headers) of the edition for one recipient, from the stored parts."""
    msg = None
    if not who.sample:
        try:
            msg = _message(store, cfg, ed, who)
        except Exception as e:  # noqa: BLE001 - the preview shows why instead of failing
            log.warning("cannot build the message for %s: %s", who.email, e)
    if msg is not None:
        html = msg.get_body(("html",)).get_content()
        text = msg.get_body(("plain",)).get_content()
        headers = "\n".join(f"{k}: {v}" for k, v in msg.items())
        return html, text, headers
    url = f"{cfg.web.public_url}/unsubscribe" if cfg.web.public_url else "mailto:unsubscribe@example.org"
    return (
        personalize(ed.html, name=who.name, unsubscribe_url=url, email=who.email, html=True),
        personalize(ed.text, name=who.name, unsubscribe_url=url, email=who.email, html=False),
        "",
    )


def edition_page(store, cfg, ed: Edition, who: Recipient) -> str:
    """The preview of one edition: email, text part and Markdown side by side."""
    html, text, headers = personalised_parts(store, cfg, ed, who)
    base = f"/edition/{ed.id}"
    as_line = (f"as {who.name} <{who.email}>" if not who.sample else f"as the sample reader <{who.email}>"
               " (use --as EMAIL for a subscriber's exact message)")
    return render_page(
        "archive_preview.html.j2", cfg, **page_context(ed.language),
        page_title=f"Preview: {ed.title}",
        title=ed.title,
        subline=f"{ed.date.isoformat()} · {ed.profile} · {plural(len(ed.entries), 'paper')} · {ed.status}",
        as_line=as_line + (f"\n{headers}" if headers else ""),
        report_href=ui.archive_path(ed.date, ed.profile, ed.cadence),
        email_href=f"{base}/email.html",
        text_href=f"{base}/text.txt",
        md_href=f"{base}/issue.md",
        html_kb=f"{len(html.encode()) / 1024:.1f}",
        email=email_fragment(html),
        md_kb=f"{len(ed.markdown.encode()) / 1024:.1f}",
        shortened=is_shortened(ed.html),
        text=text,
        markdown=ed.markdown,
        wide=True,
    )


def _not_rendered(ed: Edition) -> str:
    return (
        f"<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        f"<title>not rendered</title><p>{escape(ed.title)} is {escape(ed.status)}: not rendered yet. "
        f"Run <code>newsletter run --date {ed.date.isoformat()} --until render</code>.</p><p><a href='/'>back</a></p>"
    )


def make_app(store, cfg, as_email: str | None = None):
    """The preview as a WSGI app (routes in the module docstring)."""
    who = find_recipient(cfg, as_email)
    cache: dict[int, tuple[str, str, str]] = {}

    def parts(ed: Edition) -> tuple[str, str, str]:
        if ed.id not in cache:
            cache[ed.id] = personalised_parts(store, cfg, ed, who)
        return cache[ed.id]

    def app(environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        status, ctype, body = "200 OK", "text/html; charset=utf-8", ""
        try:
            if path == "/":
                body = index_page(store.list_editions(), heading="arXiv daily: preview", preview=True,
                                  href=lambda r: f"/edition/{r['id']}", cfg=cfg)
            elif path == "/favicon.ico":
                status, ctype, body = "204 No Content", "image/x-icon", ""
            elif m := re.fullmatch(r"/edition/(\d+)(?:/(email\.html|text\.txt|issue\.md|message\.eml))?", path):
                ed = store.get_edition_by_id(int(m.group(1)))
                if ed is None:
                    raise LookupError
                what = m.group(2)
                if not ed.html and what != "issue.md":
                    body = _not_rendered(ed)
                elif what is None:
                    body = edition_page(store, cfg, ed, who)
                elif what == "email.html":
                    body = parts(ed)[0]
                elif what == "text.txt":
                    ctype, body = "text/plain; charset=utf-8", parts(ed)[1]
                elif what == "issue.md":
                    ctype, body = "text/plain; charset=utf-8", ed.markdown
                else:
                    msg = None if who.sample else _message(store, cfg, ed, who)
                    if msg is None:
                        raise LookupError
                    ctype, body = "text/plain; charset=utf-8", msg.as_string()
            elif (page := archive_for_path(store, cfg, path)) is not None:
                body = page
            else:
                raise LookupError
        except (LookupError, ValueError):
            status, ctype, body = "404 Not Found", "text/plain; charset=utf-8", "not found\n"
        data = body.encode("utf-8")
        start_response(status, [
            ("Content-Type", ctype), ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy",
             "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-src 'self'; "
             "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"),
        ])
        return [data]

    return app


PreviewServer = LocalServer


def start(store, cfg, port: int = 0, as_email: str | None = None) -> PreviewServer:
    """Serve the preview in a background thread; returns the server (its `.url` is the bound URL)."""
    return LocalServer(make_app(store, cfg, as_email), port, name="preview").start()


def edition_url(server_url: str, store, day: date | None, profile: str | None) -> str:
    """Where to open the browser: one edition's page when --date/--profile pick one, else the index."""
    if day is None and profile is None:
        return server_url
    rows = [r for r in store.list_editions()
            if (day is None or r["date"] == day.isoformat()) and (profile is None or r["profile"] == profile)]
    if not rows:
        what = " ".join(x for x in (day.isoformat() if day else "", profile or "") if x)
        raise PreviewError(f"no edition for {what}; run `newsletter run` first (or `newsletter status` to list them)")
    return f"{server_url}edition/{rows[0]['id']}"


def serve(store, cfg, port: int = 0, open_browser: bool = True, as_email: str | None = None,
          day: date | None = None, profile: str | None = None, ready=None) -> None:
    """Serve until Ctrl-C (what `newsletter preview` runs). `ready(url)` is told the page to open."""
    server = start(store, cfg, port=port, as_email=as_email)
    try:
        url = edition_url(server.url, store, day, profile)
        if ready:
            ready(url)
        if open_browser:
            webbrowser.open(url)
        server.thread.join()
    finally:
        server.close()
