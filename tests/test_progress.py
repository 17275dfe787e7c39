"""`newsletter run` shows progress: a bar on a terminal (tested through the real command in a pty),
plain lines and no control characters in a pipe (cron, systemd, CI)."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

from newsletter.cli.output import ProgressView
from newsletter.progress import Event
from tests.conftest import ROOT


def run_in_pty(args: list[str], cwd, timeout: float = 120) -> tuple[int, str]:
    """Run a command with a pseudo-terminal as stdout and stderr; (exit code, everything it wrote)."""
    master, slave = os.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100", "TERM": "xterm-256color"}
    proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child closed its end
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, b"".join(chunks).decode(errors="replace")


def test_run_draws_a_bar_on_a_terminal(project):
    code, out = run_in_pty([sys.executable, "-m", "newsletter.cli", "run", "--demo"], project.dir)
    assert code == 0, out
    assert "\x1b[" in out, "no terminal control sequences: no bar was drawn"
    assert "sending cv" in out  # the delivery bar's label
    assert "cv: 5 papers, sent" in out


def test_run_in_a_pipe_has_lines_and_no_control_characters(project):
    r = subprocess.run([sys.executable, "-m", "newsletter.cli", "run", "--demo"], cwd=project.dir,
                       capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout + r.stderr
    assert "fetch: 10 papers" in r.stderr and "deliver[cv]: sent 2" in r.stderr


def test_progress_view_counts_only_on_a_terminal():
    import io

    plain = io.StringIO()
    view = ProgressView(stream=plain, every=0.0)
    for n in range(1, 4):
        view(Event("analyze", done=n, total=3))
    view.close()
    assert "\x1b" not in plain.getvalue()
    assert "analyze: 1/3" in plain.getvalue()  # a count line instead of a bar
