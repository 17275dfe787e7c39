"""One run at a time: the lock between two real processes, the holder named, never stale."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from newsletter.ops.lock import LockHeld, hold, holder, info_path, is_held, run_lock_path

ROOT = Path(__file__).resolve().parent.parent

HOLDER = textwrap.dedent("""
    import sys
    from newsletter.ops.lock import hold
    with hold(sys.argv[1], sys.argv[2]):
        print("held", flush=True)
        sys.stdin.read()   # until the test closes our stdin
    print("released", flush=True)
""")


def start_holder(lock: Path, command: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock), command], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert p.stdout.readline().strip() == "held"
    return p


def test_second_process_is_refused_and_told_who_holds_it(tmp_path):
    lock = tmp_path / "var" / "newsletter.lock"
    p = start_holder(lock, "newsletter run")
    try:
        assert is_held(lock)
        with pytest.raises(LockHeld) as e:
            with hold(lock, "newsletter send"):
                pytest.fail("got the lock while another process holds it")
        msg = str(e.value)
        assert f"pid {p.pid}" in msg and "`newsletter run`" in msg and "since 20" in msg
        assert holder(lock)["pid"] == p.pid
    finally:
        p.stdin.close()
        assert p.stdout.readline().strip() == "released"
        p.wait(10)
    assert not is_held(lock)
    assert not info_path(lock).exists()
    with hold(lock, "newsletter send"):  # free again
        assert holder(lock)["pid"] == os.getpid()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    lock = tmp_path / "newsletter.lock"
    p = start_holder(lock, "newsletter schedule")
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    p.stdin.close()
    p.stdout.close()
    assert info_path(lock).exists()  # the side file stays behind ...
    assert not is_held(lock)  # ... but the OS released the lock with the process
    with hold(lock, "newsletter run"):
        assert holder(lock)["command"] == "newsletter run"


def test_cli_run_and_send_exit_at_once_naming_the_holder(project, tmp_path):
    lock = run_lock_path(project.dir / "var")
    p = start_holder(lock, "newsletter schedule (issue 2026-02-09)")
    try:
        for args in (["send", "--date", "2026-02-09"], ["run", "--date", "2026-02-09"]):
            r = subprocess.run([sys.executable, "-m", "newsletter.cli", *args], cwd=project.dir, capture_output=True,
                               text=True, timeout=60, env={**os.environ, "NEWSLETTER_CONFIG": str(project.config)})
            assert r.returncode == 1, r.stderr
            line = r.stderr.strip().splitlines()[-1]
            assert line.startswith("error: ") and f"pid {p.pid}" in line, r.stderr
            assert "newsletter schedule (issue 2026-02-09)" in line and "Traceback" not in r.stderr
    finally:
        p.stdin.close()
        p.wait(10)
    # nothing was started: no run was recorded
    from newsletter.store import Store

    store = Store.open(project.db)
    assert store.recent_runs() == []
    store.close()
