"""Prompts: templates/prompts/{language}/{name}.j2 rendered into chat messages, and their hashes.

The package's prompts are used unless the config's `templates_dir` holds a file of the same
name (`prompts/en/score.j2`): see `newsletter.templating`. Callers pass that override folder
(`templating.override_dir(cfg)`); None means the package's prompts only.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..templating import PACKAGE_TEMPLATES, loader, override_names, reporting

Messages = list[dict[str, str]]

USER_MARK = "--- user ---"


def templates_dir() -> Path:
    """The prompts shipped inside the package (package data, so wheels have them too)."""
    return PACKAGE_TEMPLATES / "prompts"


@lru_cache(maxsize=8)
def prompt_env(override: Path | None, names: tuple[str, ...] = ()):
    """One Jinja2 environment per override folder and set of override files (plain text: no autoescape)."""
    from jinja2 import Environment, StrictUndefined

    return Environment(loader=loader(override), undefined=StrictUndefined, autoescape=False,
                       keep_trailing_newline=False)


def prompt_messages(language: str, name: str, overrides: Path | None = None, **ctx: Any) -> Messages:
    """Render prompts/{language}/{name}.j2 (an override first) into [system, user] messages."""
    template = f"prompts/{language}/{name}.j2"
    with reporting(template, overrides):
        text = prompt_env(overrides, override_names(overrides)).get_template(template).render(**ctx)
    system, _, user = text.partition(USER_MARK)
    return [{"role": "system", "content": system.strip()}, {"role": "user", "content": user.strip()}]


def prompt_hash(language: str, name: str, overrides: Path | None = None) -> str:
    """Changes when the template actually used changes (the override when there is one), so
    stored scores from an older or other prompt are not reused."""
    template = f"prompts/{language}/{name}.j2"
    env = prompt_env(overrides, override_names(overrides))
    with reporting(template, overrides):
        src, _, _ = env.loader.get_source(env, template)
    return hashlib.sha256(src.encode("utf-8")).hexdigest()[:16]


def strip_code_fence(text: str) -> str:
    """An answer wrapped in one ```fence``` (models do that with JSON and Markdown alike)."""
    m = re.match(r"^\s*```[a-zA-Z]*\s*\n(.*)\n\s*```\s*$", text, re.DOTALL)
    return m.group(1) if m else text
