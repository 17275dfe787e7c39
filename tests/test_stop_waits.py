"""A stop request (SIGTERM) interrupts every wait within a second or two: arXiv's retry backoff in a
real `newsletter run` process, the LLM client's backoff on a 429 with Retry-After, and a PDF
download's backoff. An arXiv outage under the scheduler is logged as one line, not a traceback.

Every wait below is bounded; the assertions are "ended before the deadline", never a duration.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date

import pytest

from newsletter import stop
from newsletter.config import load_config
from newsletter.errors import StopRequested
from newsletter.llm import make_llm, run_sync
from newsletter.llm.client import _import_litellm
from newsletter.store import Store
from tests.conftest import ROOT
from tests.servers.arxiv_fake import ArxivServer
from tests.servers.llm_server import Reply, make_config

DAY = date(2026, 2, 9)


@pytest.fixture(autouse=True)
def clean_stop_flag() -> Iterator[None]:
    """The stop flag is process-wide: every test starts and ends with it cleared."""
    stop.reset()
    yield
    stop.reset()


def outcome_within(seconds: float, fn: Callable[[], object]) -> tuple[bool, BaseException | None]:
    """Run fn in a thread: (it ended within `seconds`, the exception it raised or None)."""
    box: list[BaseException | None] = [None]

    def target() -> None:
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            box[0] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    return not t.is_alive(), box[0]


def wait_until(cond: Callable[[], bool], seconds: float) -> bool:
    """Poll `cond` every 20 ms for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


# -- arXiv: SIGTERM during a retry backoff, in a real process ---------------------------------------


def test_sigterm_during_an_arxiv_backoff_stops_the_run_at_once(project):
    with ArxivServer() as arxiv:
        arxiv.fail(503, times=50)  # arXiv is down
        project.edit('base_url = "https://export.arxiv.org/api/query"', f'base_url = "{arxiv.base_url}"')
        project.edit("delay_seconds = 3.0", "delay_seconds = 20")  # every retry waits >= 20 s
        env = {**os.environ, "PYTHONPATH": str(ROOT), "NEWSLETTER_CONFIG": str(project.config)}
        p = subprocess.Popen([sys.executable, "-m", "newsletter.cli", "run", "--date", DAY.isoformat()],
                             cwd=project.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert wait_until(lambda: len(arxiv.query_requests()) >= 1 or p.poll() is not None, 60)
            assert p.poll() is None, p.communicate()
            time.sleep(0.5)  # the 503 is answered and the backoff has begun
            p.send_signal(signal.SIGTERM)
            try:
                out, err = p.communicate(timeout=3)
                stopped_in_time = True
            except subprocess.TimeoutExpired:
                stopped_in_time = False
                p.kill()
                out, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate(timeout=10)
        assert stopped_in_time, f"still running 3 s after SIGTERM:\n{err}"
        assert p.returncode == 0, err
        assert "Traceback" not in out + err
        assert len(arxiv.query_requests()) == 1  # the retry was never made
        # one line per attempt: the request, its failure with the retry announced, then the stop
        assert err.count("arXiv: requesting results from #0") == 1, err
        assert err.count("arXiv: HTTP 503; retry 1/4 in ") == 1, err
        assert "stopped on request while waiting for arXiv" in err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) <= 5, err


def test_an_arxiv_outage_under_the_scheduler_is_one_error_line(project, caplog):
    from newsletter.ops.schedule import scheduled_run

    with ArxivServer() as arxiv:
        arxiv.fail(503, times=50)
        project.edit('base_url = "https://export.arxiv.org/api/query"', f'base_url = "{arxiv.base_url}"')
        project.edit("delay_seconds = 3.0", "delay_seconds = 0.01")
        project.edit("num_retries = 4 ", "num_retries = 2 ")
        cfg = load_config(project.config)
        with caplog.at_level(logging.INFO):
            assert scheduled_run(cfg, day=DAY, wait_lock=0) is None
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].exc_info is None and "Traceback" not in caplog.text
    assert "arXiv API failed after 3 attempts: HTTP 503" in errors[0].getMessage()
    attempts = [r.getMessage() for r in caplog.records if "requesting results" in r.getMessage()]
    assert len(attempts) == 3 and len(arxiv.query_requests()) == 3
    retries = [r.getMessage() for r in caplog.records if "; retry " in r.getMessage()]
    assert len(retries) == 2


# -- the LLM client: a stop ends a Retry-After wait ----------------------------------------------


def test_a_stop_request_ends_the_llm_backoff(stub, tmp_path, monkeypatch):
    """429 with Retry-After: 30, stop requested during the wait: the call ends within 2 s, no retry."""
    stub.reset()
    monkeypatch.setenv("NEWSLETTER_TEST_LLM_KEY", "sk-test-stop")
    cfg = make_config(tmp_path, stub, max_retries=4)
    store = Store.open(cfg.store_path)
    llm = make_llm(cfg, store, store.start_run("run", None))
    llm.max_backoff = 60.0
    stub.when(lambda b: True, Reply(status=429, retry_after="30"))
    _import_litellm()  # its import takes seconds on a busy machine: not part of what is timed

    def ask() -> object:
        return run_sync(lambda: llm.acomplete([{"role": "user", "content": "Say OK."}]))

    box: list[tuple[bool, BaseException | None]] = []
    runner = threading.Thread(target=lambda: box.append(outcome_within(60, ask)), daemon=True)
    runner.start()
    assert wait_until(lambda: len(stub.requests) >= 1, 60)
    time.sleep(0.3)
    stop.request_stop("test")
    runner.join(2.0)
    assert not runner.is_alive() and box, "the LLM call did not end within 2 s of the stop request"
    ended, err = box[0]
    assert ended and isinstance(err, StopRequested), err
    assert len(stub.requests) == 1  # no attempt after the stop


# -- a PDF download: a stop ends its Retry-After wait ----------------------------------------------


def test_a_stop_request_ends_a_pdf_download_backoff():
    from newsletter.analyze.fulltext import _download

    with ArxivServer() as arxiv:
        arxiv.inject("status", times=10, path="/pdf/", status=503, retry_after="30")
        url = f"{arxiv.root_url}/pdf/2602.00001"
        box: list[tuple[bool, BaseException | None]] = []
        runner = threading.Thread(target=lambda: box.append(outcome_within(40, lambda: _download(url, 5))),
                                  daemon=True)
        runner.start()
        assert wait_until(lambda: len(arxiv.requests) >= 1, 30)
        time.sleep(0.3)
        stop.request_stop("test")
        runner.join(2.0)
        assert not runner.is_alive() and box, "the download still waits 2 s after the stop request"
        assert isinstance(box[0][1], StopRequested), box[0]
        assert len(arxiv.requests) == 1
