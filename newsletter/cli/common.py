"""What every command shares: options, the config (from --config before or after the command),
the store, the run lock, and the issue date."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from ..config import Config, load_config
from ..errors import UsageError
from ..roster import load_subscribers
from ..store import Store

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", metavar="FILE", help="config file (default: $NEWSLETTER_CONFIG or ./config.toml)"),
]
DateOpt = Annotated[str | None, typer.Option("--date", "-d", metavar="YYYY-MM-DD", help="issue date (default: today)")]

_GLOBAL: dict[str, Path | None] = {"config": None}


def set_global_config(path: Path | None) -> None:
    """`newsletter --config FILE COMMAND`: the same as `newsletter COMMAND --config FILE`."""
    _GLOBAL["config"] = path


def config_arg(config: Path | None) -> Path | None:
    """The --config given after the command, else the one given before it."""
    return config if config is not None else _GLOBAL["config"]


def get_config(config: Path | None) -> Config:
    return load_config(config_arg(config))


def parse_day(value: str | None, cfg: Config) -> date:
    """The issue date: today in the schedule's timezone by default; never in the future."""
    today = datetime.now(ZoneInfo(cfg.schedule.timezone)).date()
    if value is None:
        return today
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--date {value!r}: not a date; use YYYY-MM-DD, e.g. {today.isoformat()}") from None
    if day > today:
        raise UsageError(f"--date {value}: is in the future (today is {today.isoformat()} in {cfg.schedule.timezone})")
    return day


@contextmanager
def opened(config: Path | None, subscribers: bool = False, lock: str | None = None,
           cfg: Config | None = None) -> Iterator[tuple[Config, Store]]:
    """Config (and subscriber files) validated, then the store; or a one-line error and exit 2.
    With `lock`, the run lock is held (or LockHeld: exit 1) and SIGTERM/SIGINT stop gracefully."""
    from ..ops.logs import attach_file

    cfg = cfg or get_config(config)
    attach_file(cfg)
    if subscribers:
        load_subscribers(cfg)
    with exclusive(cfg, lock):
        store = Store.open(cfg.store_path)
        try:
            yield cfg, store
        finally:
            store.close()


@contextmanager
def exclusive(cfg: Config, command: str | None) -> Iterator[None]:
    """One run at a time (`run`, `send`, scheduled jobs); a signal finishes the message in flight."""
    if command is None:
        yield
        return
    from ..ops import shutdown
    from ..ops.lock import hold, run_lock_path
    from ..ops.logs import say

    shutdown.reset()
    with shutdown.graceful(), hold(run_lock_path(cfg.var_dir), f"newsletter {command}"):
        yield
    if shutdown.stop_requested():
        say(f"stopped on request ({shutdown.stop_reason()}); the ledger is consistent and what is still "
            "pending goes out on the next run")


def prog() -> str:
    """How the user can call us again: `newsletter` when on PATH, else the path they used (.venv/bin/...)."""
    exe = sys.argv[0]
    found = shutil.which("newsletter")
    if found and Path(found).resolve() == Path(exe).resolve():
        return "newsletter"
    return os.path.relpath(exe) if os.path.isabs(exe) else exe


def again(command: str, config: Path | None) -> str:
    """A command line to print for the user, with the --config they used."""
    c = config_arg(config)
    return f"{prog()} {command}" + (f" --config {c}" if c is not None else "")
