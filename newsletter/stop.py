"""A process-wide stop flag: SIGTERM/SIGINT ask long loops and waits to stop at a safe point.

Shared by every stage: the delivery loop checks it between messages, the arXiv and LLM
backoffs wait on it (so a stop interrupts any wait within a second), the pipeline checks it
between stages. `ops.shutdown` installs the signal handlers that set it.
"""

from __future__ import annotations

import threading

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
    """Sleep up to `seconds`, waking at once on a stop request; True when stopping."""
    return _STOP.wait(max(0.0, seconds))


def reset() -> None:
    """Clear the flag (tests, and a fresh command in the same process)."""
    _STOP.clear()
    _reason.clear()
