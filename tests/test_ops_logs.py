"""Logging: secrets masked in every record (stderr and file, message, args and traceback), a
rotating file under var/logs/."""

from __future__ import annotations

import io
import logging

import pytest

from newsletter.config import load_config
from newsletter.ops import logs


@pytest.fixture
def logging_state():
    yield
    logs.detach_file()
    logs.setup_logging(0)


def test_secrets_never_reach_stderr_or_the_log_file(project, monkeypatch, logging_state, capsys):
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", "hunter2-smtp-pass")
    monkeypatch.setenv("MY_LLM_KEY", "sk-live-abcdef123456")
    project.edit('api_key_env = "OPENAI_API_KEY"', 'api_key_env = "MY_LLM_KEY"')
    cfg = load_config(project.config)
    err = io.StringIO()
    logs.setup_logging(1, stream=err)
    path = logs.attach_file(cfg)
    assert path == project.dir / "var" / "logs" / "newsletter.log"
    log = logging.getLogger("newsletter.test")
    log.info("login with %s", "hunter2-smtp-pass")
    log.warning("calling the model with key=sk-live-abcdef123456 failed")
    try:
        raise RuntimeError("401: bad key sk-live-abcdef123456")
    except RuntimeError:
        log.exception("LLM call failed")
    logs.say("progress: sk-live-abcdef123456")  # the person at the terminal does not see it either
    assert capsys.readouterr().err == "progress: ***\n"
    for text in (err.getvalue(), path.read_text()):
        assert "hunter2-smtp-pass" not in text and "sk-live-abcdef123456" not in text
        assert "login with ***" in text and "key=*** failed" in text and "401: bad key ***" in text
        assert "Traceback" in text  # the traceback is kept, masked


def test_levels_stderr_and_file(project, logging_state):
    cfg = load_config(project.config)
    err = io.StringIO()
    logs.setup_logging(0, stream=err)  # default: warnings on stderr ...
    path = logs.attach_file(cfg)  # ... and the whole story (info) in the file
    log = logging.getLogger("newsletter.test")
    log.info("an info line")
    log.debug("a debug line")
    log.warning("a warning line")
    assert "an info line" not in err.getvalue() and "a warning line" in err.getvalue()
    text = path.read_text()
    assert "an info line" in text and "a warning line" in text and "a debug line" not in text
    logs.setup_logging(2, stream=err)  # -vv
    log.debug("now debug")
    assert "now debug" in err.getvalue()


def test_log_file_rotates(project, logging_state):
    cfg = load_config(project.config)
    logs.setup_logging(0, stream=io.StringIO())
    path = logs.attach_file(cfg, max_bytes=2000, backups=2)
    log = logging.getLogger("newsletter.test")
    for i in range(200):
        log.info("line %d %s", i, "x" * 40)
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["newsletter.log", "newsletter.log.1", "newsletter.log.2"]
    assert all(p.stat().st_size <= 2100 for p in path.parent.iterdir())
