"""SIGTERM/SIGINT set the process-wide stop flag (newsletter.stop) instead of killing the process.

The delivery loop checks the flag between messages, so the message in flight is finished and the
ledger never keeps a row in 'sending'; waits and backoffs wake at once; the scheduler stops taking
new jobs. A second signal while stopping raises KeyboardInterrupt (the operator insists).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..stop import request_stop, reset, stop_reason, stop_requested, wait

__all__ = ["graceful", "request_stop", "reset", "stop_reason", "stop_requested", "wait"]

log = logging.getLogger(__name__)

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
        if stop_requested():
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
