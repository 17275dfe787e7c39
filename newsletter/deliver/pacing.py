"""The work queue of a send and its pace: ready jobs, jobs waiting for their retry time, the rate limit.

`JobQueue` hands jobs to the pool's workers and knows when the batch is finished (nothing ready,
nothing delayed, nobody busy). `Pace` spaces messages across the whole pool to the configured
rate and slows everything down after the server says 421 / 4.7.x.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class RetryPolicy:
    """How hard one run tries; tests shrink the waits."""

    run_attempts: int = 4  # tries of one message within a run (then it waits for the next run)
    backoff: float = 2.0  # first retry after this many seconds, doubling, with jitter
    max_backoff: float = 60.0
    max_attempts: int = 12  # tries across runs; then the message is given up as failed
    connect_failures: int = 3  # connection attempts in a row that fail before the batch stops
    throttle_pause: float = 5.0  # the pool pauses this long after 421 / 4.7.x
    throttle_interval: float = 0.05  # first gap between messages once throttled (it doubles)


@dataclass(order=True)
class Job:
    email: str
    name: str = field(compare=False)
    message_id: str = field(compare=False)
    attempts: int = field(compare=False, default=0)  # across runs, as in the ledger
    tries: int = field(compare=False, default=0)  # in this run


class JobQueue:
    """Ready jobs, jobs waiting for their retry time, and how many are being worked on."""

    def __init__(self, jobs: list[Job]):
        self.ready: deque[Job] = deque(jobs)
        self.delayed: list[tuple[float, int, Job]] = []
        self.busy = 0
        self.stopped = False
        self._seq = 0
        self.cv = threading.Condition()

    def get(self) -> Job | None:
        with self.cv:
            while True:
                if self.stopped:
                    return None
                now = time.monotonic()
                while self.delayed and self.delayed[0][0] <= now:
                    self.ready.append(heapq.heappop(self.delayed)[2])
                if self.ready:
                    self.busy += 1
                    return self.ready.popleft()
                if not self.delayed and self.busy == 0:
                    self.cv.notify_all()
                    return None
                self.cv.wait(self.delayed[0][0] - now if self.delayed else None)

    def done(self, job: Job, retry_at: float | None = None, front: bool = False) -> None:
        with self.cv:
            self.busy -= 1
            if front:
                self.ready.appendleft(job)
            elif retry_at is not None:
                self._seq += 1
                heapq.heappush(self.delayed, (retry_at, self._seq, job))
            self.cv.notify_all()

    def stop(self) -> None:
        with self.cv:
            self.stopped = True
            self.cv.notify_all()


class Pace:
    """The configured rate across the pool, and the slow-down after 421 / 4.7.x."""

    def __init__(self, rate: float, policy: RetryPolicy):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.policy = policy
        self.next = 0.0
        self.lock = threading.Lock()
        self.throttled = 0

    def wait(self, stop: threading.Event) -> None:
        with self.lock:
            now = time.monotonic()
            t = max(now, self.next)
            self.next = t + self.interval
        if t > now:
            stop.wait(t - now)

    def slow_down(self) -> None:
        with self.lock:
            self.throttled += 1
            self.interval = min(max(self.interval * 2, self.policy.throttle_interval), 5.0)
            self.next = max(self.next, time.monotonic() + self.policy.throttle_pause)
