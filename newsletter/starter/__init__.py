"""`newsletter init`: a folder to start from, written from copies shipped inside the package.

A wheel-installed `newsletter` has no repository around it, so the commented config.toml and an
example subscriber file travel as package data (`starter/*.toml`; a test keeps them equal to the
repository's top-level config.toml and subscribers/team.toml). Nothing that exists is overwritten
unless asked: a config.toml or subscriber list may be someone's real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

STARTER_DIR = Path(__file__).resolve().parent
# (file in the package, where it goes in the new folder)
FILES = (("config.toml", "config.toml"), ("subscribers.toml", "subscribers/team.toml"))


@dataclass
class InitResult:
    folder: Path
    written: list[Path]


def starter_text(name: str) -> str:
    """The shipped starter file `name` (config.toml or subscribers.toml)."""
    return (STARTER_DIR / name).read_text(encoding="utf-8")


def init_folder(folder: Path, force: bool = False) -> InitResult:
    """Write config.toml and subscribers/team.toml into `folder` (created if missing).

    Refuses (UsageError, nothing written) when config.toml exists or subscribers/ already holds
    a list, since adding example readers to a real list would mail them; `force` overwrites."""
    folder = folder.resolve()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: exists and is not a folder; pick another place for `newsletter init`")
    if not force:
        clash = [folder / dest for _, dest in FILES if (folder / dest).exists()]
        subs = folder / "subscribers"
        if not clash and subs.is_dir():
            clash = sorted(subs.glob("*.toml"))[:1]
        if clash:
            raise UsageError(f"{clash[0]} already exists; nothing was written (use --force to overwrite "
                             "config.toml and subscribers/team.toml)")
    written: list[Path] = []
    try:
        for src, dest in FILES:
            target = folder / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(starter_text(src), encoding="utf-8")
            written.append(target)
    except OSError as e:
        raise UsageError(f"{folder}: cannot write the starter files ({e.strerror or e})") from None
    return InitResult(folder, written)
