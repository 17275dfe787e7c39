"""Shared fixtures: a project folder (config.toml + subscribers/) in a tmp dir, and running the CLI."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Project:
    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "config.toml"

    @property
    def db(self) -> Path:
        return self.dir / "var" / "newsletter.db"

    def edit(self, old: str, new: str) -> None:
        text = self.config.read_text()
        assert old in text, old
        self.config.write_text(text.replace(old, new, 1))

    def append(self, text: str) -> None:
        self.config.write_text(self.config.read_text() + "\n" + text + "\n")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The shipped config.toml and subscribers/, copied so a test can change them freely."""
    # arXiv's lagging announcements are asked again for hours: not in tests, unless one asks for it
    text = (ROOT / "config.toml").read_text().replace("empty_retry_hours = 3 ", "empty_retry_hours = 0 ")
    (tmp_path / "config.toml").write_text(text)
    shutil.copytree(ROOT / "subscribers", tmp_path / "subscribers")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSLETTER_CONFIG", raising=False)
    return Project(tmp_path)


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run `newsletter ARGS...` in this process through the real entry point (exit code, stdout, stderr)."""
    from newsletter.cli import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["newsletter", *args])
        code = 0
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return run


@pytest.fixture(scope="module")
def stub():
    """The OpenAI-compatible LLM stub on 127.0.0.1 (tests reset it between cases)."""
    from tests.servers.llm_server import LLMStub

    with LLMStub() as s:
        yield s
