"""Where templates come from: the user's override folder first, then the package's own copies.

The email, archive pages and LLM prompts ship inside the package (`newsletter/templates/`, package
data), so a wheel-installed `newsletter` works from any folder. The config key `templates_dir`
(default "templates", relative to config.toml) names a folder of overrides with the same layout:
a file there with a package template's name (`email.mjml.j2`, `prompts/en/score.j2`) is used
instead. A missing folder just means "no overrides".

A template that cannot be found or does not parse is a configuration mistake, so it becomes one
`ConfigError` line (exit 2) naming the file and the fix, never a Jinja traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import ConfigError

PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "templates"
PAGE_TEMPLATES = (
    "email.mjml.j2", "archive_base.html.j2", "archive_edition.html.j2", "archive_index.html.j2",
    "archive_preview.html.j2", "site_index.html.j2", "site_list.html.j2",
)
PROMPT_LANGUAGES = ("en", "zh")
PROMPT_NAMES = ("abstract", "analysis", "score", "summary")
PROMPT_TEMPLATES = tuple(f"prompts/{lang}/{name}.j2" for lang in PROMPT_LANGUAGES for name in PROMPT_NAMES)
REQUIRED = PAGE_TEMPLATES + PROMPT_TEMPLATES  # what a working install must have (the wheel test checks it)


def override_dir(cfg: Any | None) -> Path | None:
    """The config's override folder (absolute), or None without a config (package templates only)."""
    if cfg is None:
        return None
    return cfg.resolve(cfg.templates_dir).resolve()


def override_names(override: Path | None) -> tuple[str, ...]:
    """The override files present now: part of the environments' cache key, so adding or removing
    one takes effect at the next render even in a long-running `newsletter schedule`."""
    if override is None or not override.is_dir():
        return ()
    return tuple(sorted(str(p.relative_to(override)) for p in override.rglob("*.j2")))


def loader(override: Path | None):
    """Jinja2 loader: the override folder (when given; it need not exist) before the package's."""
    from jinja2 import ChoiceLoader, FileSystemLoader

    package = FileSystemLoader(str(PACKAGE_TEMPLATES))
    return ChoiceLoader([FileSystemLoader(str(override)), package]) if override is not None else package


def _has_overrides(override: Path | None) -> bool:
    return override is not None and override.is_dir() and any(override.rglob("*.j2"))


def template_error(e: Exception, name: str, override: Path | None) -> ConfigError | None:
    """The one line for a template mistake, or None when `e` is not one (a bug of ours: re-raise)."""
    from jinja2 import TemplateNotFound, TemplateSyntaxError, UndefinedError

    where = f"in {override} nor in the package ({PACKAGE_TEMPLATES})" if override else f"in {PACKAGE_TEMPLATES}"
    if isinstance(e, TemplateSyntaxError):
        file = Path(e.filename or e.name or name)
        mine = override is not None and override in file.parents
        fix = ("fix it, or delete it to use the package's copy" if mine
               else "the installed package is damaged; reinstall newsletter")
        return ConfigError(f"templates: {e.filename or e.name or name}:{e.lineno}: {e.message.rstrip('.')}; {fix}")
    if isinstance(e, TemplateNotFound):
        missing = e.name or name
        fix = ("the installed package lacks it; reinstall newsletter" if missing in REQUIRED
               else f"create it in {override or 'the templates_dir folder'} or fix the name that refers to it")
        return ConfigError(f"templates: {missing} not found {where}; {fix}")
    if isinstance(e, UndefinedError) and _has_overrides(override):
        return ConfigError(f"templates: {name}: {e.message} (an override in {override} is in use; compare it "
                           "with the package's copy, or delete it)")
    return None


@contextmanager
def reporting(name: str, override: Path | None) -> Iterator[None]:
    """Around loading or rendering `name`: template mistakes become one ConfigError line."""
    try:
        yield
    except Exception as e:
        err = template_error(e, name, override)
        if err is None:
            raise
        raise err from None


def verify_templates(pages: Any, prompts: Any, override: Path | None) -> None:
    """Every required template loads and parses in its Jinja2 environment (overrides included),
    and so does every template they extend or include by name; else one ConfigError line.

    Compiling them all costs milliseconds and means a broken override stops the run before it
    fetches or spends anything, instead of failing one profile halfway through."""
    from jinja2 import meta

    for name in REQUIRED:
        jinja = prompts if name.startswith("prompts/") else pages
        todo, seen = [name], set()
        while todo and len(seen) < 100:  # bounded: a template cannot pull in more than that
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            with reporting(current, override):
                source, _, _ = jinja.loader.get_source(jinja, current)
                jinja.get_template(current)
                todo.extend(n for n in meta.find_referenced_templates(jinja.parse(source)) if isinstance(n, str))
