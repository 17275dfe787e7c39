"""One run at a time: `run`, `send` and the scheduler's jobs share one lock file.

The lock is an OS file lock (filelock), so it disappears with a crashed process and never goes
stale. Whoever holds it writes a side file naming itself (pid, command, since), which is what the
second process prints when it exits at once.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ..errors import LockHeld as _LockHeldBase

RUN_LOCK = "newsletter.lock"
SCHEDULER_LOCK = "scheduler.lock"


class LockHeld(_LockHeldBase):
    """Another newsletter process holds the lock; str(e) names it and says what to do."""

    def __init__(self, path: Path, holder: dict[str, Any] | None):
        self.path, self.holder = path, holder
        super().__init__(f"{path}: another newsletter process is running ({describe(holder)}); "
                         "wait for it to finish or stop it, then try again")


def info_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".info")


def holder(lock_path: Path) -> dict[str, Any] | None:
    """Who holds (or last held) the lock, from the side file; None when unknown."""
    try:
        return json.loads(info_path(lock_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def describe(h: dict[str, Any] | None) -> str:
    if not h:
        return "holder unknown: it is just starting or stopping"
    return f"pid {h.get('pid')} on {h.get('host')}, `{h.get('command')}`, since {h.get('since')}"


def is_held(lock_path: Path) -> bool:
    """True when some process holds the lock right now (probes without keeping it)."""
    if not lock_path.exists():
        return False
    probe = FileLock(str(lock_path), timeout=0, thread_local=False, is_singleton=False)
    try:
        probe.acquire()
    except Timeout:
        return True
    except OSError:  # cannot even open it (read-only var/): nobody we could know of
        return False
    probe.release()
    return False


@contextmanager
def hold(lock_path: str | Path, command: str, wait_seconds: float = 0) -> Iterator[None]:
    """Hold the lock for the block, or raise LockHeld at once (or after `wait_seconds`)."""
    path = Path(lock_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=wait_seconds, thread_local=False, is_singleton=False)
    try:
        lock.acquire()
    except Timeout:
        raise LockHeld(path, holder(path)) from None
    info = info_path(path)
    try:
        info.write_text(json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "command": command,
            "since": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
        }), encoding="utf-8")
        yield
    finally:
        try:
            info.unlink()
        except OSError:
            pass
        lock.release()


def run_lock_path(var_dir: Path) -> Path:
    return Path(var_dir) / RUN_LOCK


def scheduler_lock_path(var_dir: Path) -> Path:
    return Path(var_dir) / SCHEDULER_LOCK


def mailbox_lock_path(var_dir: Path) -> Path:
    """`newsletter mailbox` (and the scheduler's hourly read) one at a time."""
    return var_dir / "mailbox.lock"
