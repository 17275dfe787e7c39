"""Logging: levels, stderr, a rotating file under var/logs/, and secrets masked in every record.

The mask reads the values of the secret environment variables (LLM key, SMTP password,
unsubscribe secret, and any registered later) at the moment a record is written, and replaces
them with '***' in the message, its arguments and any traceback, for every handler we install.
Readers' addresses are not secrets but are kept out of the story: `mask_email` before logging one.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Config

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOISY = ("LiteLLM", "litellm", "httpx", "httpcore", "cssutils", "mail.log", "arxiv", "urllib3", "apscheduler")
DEFAULT_SECRET_ENVS = ("OPENAI_API_KEY", "NEWSLETTER_SMTP_PASSWORD", "NEWSLETTER_UNSUBSCRIBE_SECRET",
                       "NEWSLETTER_MAILBOX_PASSWORD")
MIN_SECRET_LEN = 4  # shorter values would mask ordinary words

_secret_envs: set[str] = set(DEFAULT_SECRET_ENVS)
_state: dict[str, Any] = {"stderr": None, "file": None}


def register_secret_envs(names: Iterable[str]) -> None:
    """Also mask the values of these environment variables."""
    _secret_envs.update(n for n in names if n)


def secret_values() -> list[str]:
    vals = {os.environ.get(n, "") for n in _secret_envs}
    return sorted((v for v in vals if len(v) >= MIN_SECRET_LEN), key=len, reverse=True)


def mask(text: str, secrets: list[str] | None = None) -> str:
    for s in secret_values() if secrets is None else secrets:
        text = text.replace(s, "***")
    return text


def mask_email(address: str) -> str:
    """An address as a log line or a page anyone with a link may see shows it: the mailbox's first
    character and the domain, "a***@example.org" (never enough to write to, or to find, the reader)."""
    local, at, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if at and local else "***"


class SecretFilter(logging.Filter):
    """Rewrites a record so no secret value survives in the message or the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = secret_values()
        if not secrets:
            return True
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string: keep what we have
            msg = str(record.msg)
        masked = mask(msg, secrets)
        if masked != msg:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = mask(record.stack_info, secrets)
        return True


def level_for(verbose: int) -> int:
    return logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG


def setup_logging(verbose: int = 0, stream=None) -> None:
    """Root logger: stderr at the chosen level (-v info, -vv debug); idempotent."""
    root = logging.getLogger()
    level = level_for(verbose)
    old = _state["stderr"]
    if old is not None:
        root.removeHandler(old)
    _install("stderr", logging.StreamHandler(stream or sys.stderr), level)
    for name in NOISY:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def _install(slot: str, h: logging.Handler, level: int) -> None:
    """Every handler of ours formats alike and masks secrets."""
    h.setLevel(level)
    h.setFormatter(logging.Formatter(FORMAT))
    h.addFilter(SecretFilter())
    logging.getLogger().addHandler(h)
    _state[slot] = h
    _relevel()


def _relevel() -> None:
    """The root logger passes what the most talkative of our handlers wants."""
    levels = [h.level for h in (_state["stderr"], _state["file"]) if h is not None]
    if levels:
        logging.getLogger().setLevel(min(levels))


def set_stderr_level(level: int) -> None:
    """Lower (never raise) the stderr level: the scheduler logs INFO to the journal."""
    h = _state["stderr"]
    if h is not None:
        h.setLevel(min(h.level, level))
        _relevel()


def attach_file(
    cfg: Config, max_bytes: int = 5_000_000, backups: int = 5, level: int = logging.INFO
) -> Path | None:
    """Also log to var/logs/newsletter.log (rotating) and mask this config's secret env vars.

    Returns the file, or None when var/ is not writable (logging to stderr still works).
    """
    register_secret_envs([cfg.llm.api_key_env, cfg.smtp.password_env, cfg.web.unsubscribe_secret_env,
                          cfg.mailbox.password_env, cfg.dkim.private_key_env])
    path = cfg.var_dir / "logs" / "newsletter.log"
    root = logging.getLogger()
    old = _state["file"]
    if old is not None:
        if Path(old.baseFilename) == path.resolve():
            return path
        root.removeHandler(old)
        old.close()
        _state["file"] = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        h = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    except OSError:
        return None
    _install("file", h, level)
    return path


def detach_file() -> None:
    """Close the log file (the scheduler at exit; tests between cases)."""
    h = _state["file"]
    if h is not None:
        logging.getLogger().removeHandler(h)
        h.close()
        _state["file"] = None
        _relevel()


def say(msg: str) -> None:
    """A progress line for the person at the terminal (stderr), secrets masked."""
    print(mask(msg), file=sys.stderr, flush=True)
