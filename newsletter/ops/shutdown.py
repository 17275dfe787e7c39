"""A process-wide stop flag: SIGTERM/SIGINT ask long loops to stop at a safe point.

The delivery loop polls `stop_requested()` between messages, so the message in flight is finished
and the ledger never keeps a row in 'sending'; the scheduler stops taking new jobs. A second
signal while stopping raises KeyboardInterrupt (the operator insists).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

_STOP = threading.Event()
_reason: list[str] = []


def request_stop(reason: str = "stop requested") -> None:
    """Ask every loop to stop at its next safe point."""
    if not _STOP.is_set():
        _reason[:] = [reason]
    _STOP.set()


def stop_requested() -> bool:
    """True once a stop was requested; loops check it between units of work."""
    return _STOP.is_set()


def stop_reason() -> str:
    return _reason[0] if _reason else ""


def wait(seconds: float) -> bool:
    """Sleep up to `seconds`, waking early on a stop request; True when stopping."""
    return _STOP.wait(seconds)


def reset() -> None:
    """Clear the flag (tests, and a fresh command in the same process)."""
    _STOP.clear()
    _reason.clear()


@contextmanager
def graceful(signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[None]:
    """Within the block the signals set the stop flag instead of killing the process.

    Only the main thread can install handlers; elsewhere (tests driving a command in a thread)
    this is a no-op and the flag can still be set with `request_stop`.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame) -> None:  # noqa: ARG001
        name = signal.Signals(signum).name
        if _STOP.is_set():
            log.warning("%s again while stopping: giving up now", name)
            raise KeyboardInterrupt
        log.warning("%s received: finishing the message in flight, then stopping", name)
        request_stop(f"{name} received")

    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
