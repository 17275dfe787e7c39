"""Progress as typed events: stages emit them, the CLI draws them, the scheduler logs them.

An `Event` says which stage, how far (`done` of `total`, when countable) and a line for people
(`note`). No code parses another's progress strings: a bar reads `done`/`total`, a log reads
`note`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("newsletter.progress")


@dataclass(frozen=True)
class Event:
    stage: str  # fetch | select | analyze | render | deliver
    note: str = ""  # one line for people ("" for a pure counter tick)
    done: int | None = None
    total: int | None = None
    profile: str = ""


Progress = Callable[[Event], None]


def emit(progress: Progress | None, stage: str, note: str = "", *, done: int | None = None,
         total: int | None = None, profile: str = "") -> None:
    """Log the note and hand the event to whoever draws it."""
    if note:
        log.info("%s", note)
    if progress is not None:
        progress(Event(stage=stage, note=note, done=done, total=total, profile=profile))
