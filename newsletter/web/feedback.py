"""One-click feedback: `/feedback/<token>` records a reader's "more like this" / "less like this".

    GET   a confirmation page in the list's language naming the paper and the vote, with one button;
          it records nothing (mail scanners and link prefetchers follow every link)
    POST  the button: records the vote (the latest per reader and paper wins; posting again is
          harmless) and thanks the reader, with a link to the paper on arXiv

The token (deliver/tokens.py) is signed over (list, address, paper, vote) with the unsubscribe
secret, in an HMAC domain of its own. Refusals say nothing that helps a forger: 400 for a malformed
or forged token, 410 when a genuine one no longer applies (the reader no longer receives that list:
unsubscribed from it or from every list, gone from the subscriber files, or the list gone from the
config; or the paper was never chosen for that reader), 503 without a secret, 405, 413 for a body
over MAX_BODY and 414 for a token over MAX_TOKEN characters, neither read.

The address is shown masked ("a***@example.org"): an issue is often forwarded, and whoever holds the
link sees the page, so it names whose ranking the vote tunes without printing the address in full.
(The token itself only encodes the address, it does not hide it: the link stays as private as the
email it came in.) The log line per vote masks it the same way.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from collections.abc import Callable
from html import escape

from ..config import Config
from ..deliver.tokens import TokenError, secret_from_env, verify_feedback_token
from ..errors import ConfigError
from ..ops.logs import mask_email
from ..roster import load_subscribers
from ..store import Store
from .pages import list_language, list_profile, page

log = logging.getLogger(__name__)

PREFIX = "/feedback/"
MAX_TOKEN = 2000  # a genuine token is ~150 characters
MAX_BODY = 1024  # the button posts no field at all
FORM_METHODS = "GET, HEAD, POST, OPTIONS"  # the Allow of /feedback/ and /unsubscribe

# {paper} is the escaped title, {list} the list's title in quotes, {email} the masked address.
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "quoted": "«{title}»",
        "generic": "this newsletter",
        "vote+": "More like this",
        "vote-": "Less like this",
        "confirm_title": "{vote}?",
        "confirm+": "<p><b>{paper}</b></p><p>Press the button and {list} will bring {email} "
                    "more papers like this one.</p>",
        "confirm-": "<p><b>{paper}</b></p><p>Press the button and {list} will bring {email} "
                    "fewer papers like this one.</p>",
        "done_title": "Thank you",
        "done+": "<p>Your next issue will have more papers like this.</p>",
        "done-": "<p>Your next issue will have fewer papers like this.</p>",
        "paper_link": '<p><a href="{url}">{paper}</a> on arXiv</p>'
                      "<p>Changed your mind? Use the other link under this paper in your email.</p>",
        "invalid_title": "Invalid link",
        "invalid": "<p>This feedback link is not valid (it may have been cut or altered). "
                   "Please use the link from the newsletter itself.</p>",
        "stale_title": "Link no longer valid",
        "stale": "<p>This feedback link no longer applies. Nothing was recorded.</p>",
        "unavailable_title": "Feedback unavailable",
        "unavailable": "<p>This server cannot record feedback right now. Please try again later.</p>",
    },
    "zh": {
        "quoted": "「{title}」",
        "generic": "本简报",
        "vote+": "更多类似",
        "vote-": "减少类似",
        "confirm_title": "{vote}？",
        "confirm+": "<p><b>{paper}</b></p><p>点击下方按钮后，{list}将为 {email} 推荐更多类似的论文。</p>",
        "confirm-": "<p><b>{paper}</b></p><p>点击下方按钮后，{list}将为 {email} 减少推荐类似的论文。</p>",
        "done_title": "感谢反馈",
        "done+": "<p>您的下一期简报将包含更多类似的论文。</p>",
        "done-": "<p>您的下一期简报将减少类似的论文。</p>",
        "paper_link": '<p>在 arXiv 查看：<a href="{url}">{paper}</a></p>'
                      "<p>改变主意了？请点击邮件中该论文下方的另一个链接。</p>",
        "invalid_title": "链接无效",
        "invalid": "<p>此反馈链接无效（可能被截断或改动）。请使用简报邮件中的原始链接。</p>",
        "stale_title": "链接已失效",
        "stale": "<p>此反馈链接已失效，未记录任何内容。</p>",
        "unavailable_title": "暂时无法反馈",
        "unavailable": "<p>本服务器暂时无法记录反馈，请稍后再试。</p>",
    },
}


class Readers:
    """Who receives which list now, from subscribers/*.toml, read again whenever a file there changes
    (name, size, inode or mtime), so a reader removed from the files is refused without a restart.
    Files that fail to validate (an edit half done) keep the last good roster; with none, None.
    Shared by the server's threads: one of them at a time reads the files again."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.folder = cfg.resolve(cfg.subscribers_dir)
        self._listed: tuple | None = None
        self._names: list[str] = []
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._lists: dict[str, set[str]] | None = None

    def _signature(self) -> tuple:
        """What the files look like now: the folder is listed again only when it changed (a file added,
        removed or renamed), each file is looked at every time (an edit in place)."""
        try:
            folder = os.stat(self.folder)
            if (folder.st_ino, folder.st_mtime_ns) != self._listed:
                self._names = sorted(n for n in os.listdir(self.folder) if n.endswith(".toml"))
                self._listed = (folder.st_ino, folder.st_mtime_ns)
            stats = [(n, os.stat(os.path.join(self.folder, n))) for n in self._names]
        except OSError:
            self._listed = None
            return ("unreadable",)
        return tuple((n, s.st_ino, s.st_size, s.st_mtime_ns) for n, s in stats)

    def lists_of(self, email: str) -> set[str] | None:
        """The lists the files give this address (empty when it is not there); None when the files
        have never been readable since this server started."""
        stamp = self._signature()
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    subscribers = load_subscribers(self.cfg)
                except (ConfigError, OSError) as e:
                    keep = "keeping the last good list" if self._lists is not None else "answering 503"
                    log.warning("feedback: cannot read the subscriber files (%s); %s", e, keep)
                else:
                    self._lists = {s.email.lower(): set(s.profiles) for s in subscribers}
            lists = self._lists
        if lists is None:
            return None
        return lists.get(email.lower(), set())


def claimed_list(token: str) -> str | None:
    """The list a feedback token names, NOT verified: only to choose a refusal's language."""
    try:
        head = token.split(".")[0] if 0 < len(token) <= MAX_TOKEN else ""
        fields = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode("utf-8").split("\x00")
    except (ValueError, UnicodeDecodeError):
        return None
    return fields[0] if len(fields) == 4 else None


def _words(cfg: Config, list_name: str | None) -> tuple[str, dict[str, str], str]:
    profile = list_profile(cfg, list_name)
    lang = list_language(profile)
    w = WORDS[lang]
    return lang, w, w["quoted"].format(title=profile.title) if profile is not None else w["generic"]


def _refusal(cfg: Config, list_name: str | None, status: str, key: str) -> tuple[str, str]:
    lang, w, _ = _words(cfg, list_name)
    return status, page(w[f"{key}_title"], w[key], lang)


def still_applies(store: Store, cfg: Config, readers: Readers, email: str, list_name: str,
                  paper_id: str) -> bool | None:
    """A genuine token still counts: the list exists, the files still give it to the reader, they
    are not suppressed for it (or for every list), and the paper was chosen for them. None: the
    subscriber files cannot be read, so nobody can tell."""
    lists = readers.lists_of(email)
    if lists is None:
        return None
    return (list_profile(cfg, list_name) is not None and list_name in lists
            and not store.is_suppressed(email, list_name) and store.was_picked(email, paper_id))


def feedback_action(store: Store, cfg: Config, readers: Readers, method: str, token: str,
                    write: Callable | None = None) -> tuple[str, str]:
    """(HTTP status, HTML page) for GET (confirm, record nothing) or POST (record) of one token.
    `write(fn)` runs the vote's write (ThreadStores.write: group commit); by default on `store`."""
    secret = secret_from_env(cfg)
    if secret is None:
        return _refusal(cfg, claimed_list(token), "503 Service Unavailable", "unavailable")
    try:
        email, list_name, paper_id, vote = verify_feedback_token(secret, token)
    except TokenError:
        return _refusal(cfg, claimed_list(token), "400 Bad Request", "invalid")
    applies = still_applies(store, cfg, readers, email, list_name, paper_id)
    if applies is None:
        return _refusal(cfg, list_name, "503 Service Unavailable", "unavailable")
    if not applies:
        return _refusal(cfg, list_name, "410 Gone", "stale")
    lang, w, named = _words(cfg, list_name)
    sign = "+" if vote > 0 else "-"
    papers = store.get_papers([paper_id])
    title = escape(papers[0].title if papers else paper_id)
    if method == "POST":
        write = write or (lambda fn: fn(store))
        if write(lambda s: s.record_vote(email, list_name, paper_id, vote)):
            log.info("feedback: %s voted %+d on %s (list %s)", mask_email(email), vote, paper_id, list_name)
        url = escape(papers[0].abs_url if papers else f"https://arxiv.org/abs/{paper_id}", quote=True)
        return "200 OK", page(w["done_title"], w[f"done{sign}"] + w["paper_link"].format(url=url, paper=title), lang)
    vote_words = w[f"vote{sign}"]
    fill = {"paper": title, "list": escape(named), "email": escape(mask_email(email))}
    # a relative action: the page is /…/feedback/<token>, so this posts back to it behind any path prefix
    return "200 OK", page(
        w["confirm_title"].format(vote=vote_words),
        w[f"confirm{sign}"].format(**fill)
        + f'<form method="post" action="{escape(token, quote=True)}">'
        f'<button type="submit">{escape(vote_words)}</button></form>',
        lang,
    )


def feedback_response(store: Store, cfg: Config, readers: Readers, environ: dict,
                      write: Callable | None = None) -> tuple[str, str, list]:
    """(status, page, extra headers) for any request under /feedback/: methods and sizes are
    checked before the token, and an oversized body is refused without reading it."""
    method = environ.get("REQUEST_METHOD", "GET").upper()
    token = (environ.get("PATH_INFO") or "")[len(PREFIX):]
    if method not in ("GET", "HEAD", "POST"):
        return "405 Method Not Allowed", page("Not allowed", "<p>Use GET or POST.</p>"), [("Allow", FORM_METHODS)]
    if len(token) > MAX_TOKEN:
        return "414 URI Too Long", page("Invalid link", "<p>This link is too long to be one of ours.</p>"), []
    if method == "POST":
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0:
            return "400 Bad Request", page("Bad request", "<p>Bad Content-Length.</p>"), []
        if length > MAX_BODY:
            return "413 Content Too Large", page("Too large", "<p>This request is too large.</p>"), []
        environ["wsgi.input"].read(length)  # the button sends nothing; read what came so the close is clean
    return (*feedback_action(store, cfg, readers, "POST" if method == "POST" else "GET", token, write), [])
