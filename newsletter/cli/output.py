"""What the CLI shows people: progress as it happens (a bar on a terminal, lines elsewhere), and
the run's outcome in words. The library emits typed events; only this module draws them."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ..ops.logs import mask
from ..progress import Event
from ..wording import plural

__all__ = ["LABELS", "ProgressView", "plural"]

LABELS = {"fetch": "fetching", "select": "scoring", "analyze": "analysing", "render": "rendering",
          "deliver": "sending"}


class ProgressView:
    """Draws events: notes as lines, counters as a rich bar on a terminal, or a line every few
    seconds elsewhere (cron, systemd, pipes get no control characters)."""

    def __init__(self, stream: TextIO | None = None, every: float = 5.0):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every
        self._bar = None
        self._tasks: dict[tuple[str, str], int] = {}
        self._last_line = 0.0

    def __call__(self, ev: Event) -> None:
        if ev.note:
            if self._bar is not None:
                self._bar.console.print(ev.note, highlight=False, markup=False)
            else:
                self._line(ev.note)
        if ev.done is None or not ev.total:
            return
        if not self.tty:
            now = time.monotonic()
            if now - self._last_line >= self.every and ev.done < ev.total:
                self._last_line = now
                self._line(f"{ev.stage}{f'[{ev.profile}]' if ev.profile else ''}: {ev.done}/{ev.total}")
            return
        self._advance(ev)

    def _line(self, text: str) -> None:
        print(mask(text), file=self.stream, flush=True)

    def _advance(self, ev: Event) -> None:
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(file=self.stream), transient=True)
            self._bar.start()
        key = (ev.stage, ev.profile)
        if key not in self._tasks:
            label = LABELS.get(ev.stage, ev.stage) + (f" {ev.profile}" if ev.profile else "")
            self._tasks[key] = self._bar.add_task(label, total=ev.total)
        self._bar.update(self._tasks[key], completed=ev.done, total=ev.total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
            self._tasks.clear()

    def __enter__(self) -> ProgressView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
