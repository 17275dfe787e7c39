"""Prompts: templates/prompts/{language}/{name}.j2 rendered into chat messages, and their hashes."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

Messages = list[dict[str, str]]

USER_MARK = "--- user ---"


def templates_dir() -> Path:
    """The prompts shipped inside the package (package data, so wheels have them too)."""
    return Path(__file__).resolve().parent.parent / "templates" / "prompts"


def prompt_messages(language: str, name: str, **ctx: Any) -> Messages:
    """Render templates/prompts/{language}/{name}.j2 into [system, user] messages."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = _ENV.get("env")
    if env is None:
        env = Environment(loader=FileSystemLoader(str(templates_dir())), undefined=StrictUndefined,
                          autoescape=False, keep_trailing_newline=False)
        _ENV["env"] = env
    text = env.get_template(f"{language}/{name}.j2").render(**ctx)
    system, _, user = text.partition(USER_MARK)
    return [{"role": "system", "content": system.strip()}, {"role": "user", "content": user.strip()}]


def prompt_hash(language: str, name: str) -> str:
    """Changes when the template changes, so stored scores from an older prompt are not reused."""
    src = (templates_dir() / language / f"{name}.j2").read_bytes()
    return hashlib.sha256(src).hexdigest()[:16]


_ENV: dict[str, Any] = {}


def strip_code_fence(text: str) -> str:
    """An answer wrapped in one ```fence``` (models do that with JSON and Markdown alike)."""
    m = re.match(r"^\s*```[a-zA-Z]*\s*\n(.*)\n\s*```\s*$", text, re.DOTALL)
    return m.group(1) if m else text
