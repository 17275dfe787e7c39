"""Benchmark: `newsletter serve` under a send's click burst while other clients stall.

One run, on the demo's store (the sample day, `newsletter run --demo` into a temporary folder):

  load     60 clients, each its own 127.0.2.x address, one new connection per request, fetching
           confirmation pages (feedback 40 %, unsubscribe 30 %) and archive pages (archive 20 %,
           index 10 %) as fast as they are answered, for WINDOW seconds
  stall    50 other clients (127.0.1.x) that open a connection and stall: half mid-headers, half
           mid-body with a lying Content-Length; each reconnects when cut off
  posts    20 mail-provider clients (127.0.3.x) posting 5,000 RFC 8058 one-click unsubscribes
           (5,000 addresses, 500 of them posted twice), alongside the load

Servers, each in its own process (the load generator is this one):

  waitress   `newsletter serve` itself (the CLI, [web] threads = 8)
  wsgiref    main's server: the same app on wsgiref's single-threaded server (LocalServer), for
             OLD_WINDOW seconds with the posts it manages in that time
  cheroot, gunicorn   with --alternatives, when importable (PYTHONPATH): the same guarded app on
             cheroot's threaded server (8 threads) and on gunicorn's gthread worker (2 x 8)

Checked for waitress: >= 500 req/s sustained, p99 <= 200 ms, 0 errors, and in the store every
one of the 5,000 addresses suppressed exactly once (and one log line each).
Usage: python bench/bench_serve.py [--quick] [--alternatives]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-serve-secret-0123456789abcdefghij"
CLIENTS, STALLERS, POSTERS = 60, 50, 20
POSTS, REPEATS = 5_000, 500
TIMEOUT = 5.0  # a request not answered in this long is an error


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, status: int | None, seconds: float, ok: bool) -> None:
        self.latencies.append(seconds)
        if status is not None:
            self.statuses[status] = self.statuses.get(status, 0) + 1
        if not ok:
            self.errors += 1

    def p(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else float("nan")


def make_site(folder: Path) -> Path:
    """The demo day in a project folder with [web] public_url set; returns its config.toml."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    exe = [sys.executable, "-m", "newsletter.cli"]
    subprocess.run([*exe, "init", str(folder)], check=True, capture_output=True, env=env)
    subprocess.run([*exe, "run", "--demo"], check=True, capture_output=True, env=env, cwd=folder)
    cfg = folder / "config.toml"
    text = cfg.read_text().replace('path = "var/newsletter.db"', 'path = "var/demo.db"', 1)
    cfg.write_text(text.replace('public_url = ""', 'public_url = "https://news.example.org"', 1))
    return cfg


def paths(cfg_path: Path) -> tuple[list[str], list[str]]:
    """(GET paths in the load's mix, POST paths: every address once, REPEATS of them twice)."""
    from newsletter.config import load_config
    from newsletter.deliver.tokens import make_feedback_token, make_token
    from newsletter.store import Store

    cfg = load_config(cfg_path)
    store = Store.open(cfg.store_path)
    picks = [(e, p) for ed in store.list_editions() for e, ids in store.get_picks(ed["id"]).items() for p in ids]
    day = store.list_editions()[0]["date"]
    store.close()
    key = SECRET.encode()
    feedback = [f"/feedback/{make_feedback_token(key, e, 'cv', p, v)}" for e, p in picks for v in (1, -1)]
    unsub = [f"/unsubscribe?token={quote(make_token(key, f'reader{i}@example.org', 'cv'))}" for i in range(500)]
    mix = random.Random(7)
    gets = [mix.choice(feedback) for _ in range(40)] + [mix.choice(unsub) for _ in range(30)]
    gets += [f"/archive/{day}/cv.html"] * 20 + ["/"] * 10
    posts = [f"/unsubscribe?token={quote(make_token(key, f'oneclick{i:05d}@example.org', 'cv'))}"
             for i in range(POSTS)]
    posts += mix.sample(posts, REPEATS)
    mix.shuffle(posts)
    return gets, posts


class Client:
    """One client's connection: a new one per request (`keep=False`), or one kept open across
    requests (HTTP/1.1 keep-alive, as a reverse proxy's pool or a browser does)."""

    def __init__(self, port: int, source: str, keep: bool = False):
        self.port, self.source, self.keep = port, source, keep
        self.sock: socket.socket | None = None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    async def request(self, method: str, path: str) -> int | None:
        """The status, or None when the connection failed, was cut, or took over TIMEOUT."""
        body = b"List-Unsubscribe=One-Click" if method == "POST" else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: news.example.org\r\n"
                + ("" if self.keep else "Connection: close\r\n") + f"Content-Length: {len(body)}\r\n"
                + ("Content-Type: application/x-www-form-urlencoded\r\n" if body else "") + "\r\n").encode()
        for attempt in (1, 2):
            reused = self.sock is not None
            try:
                async with asyncio.timeout(TIMEOUT):
                    return await self._exchange(head + body)
            except (OSError, TimeoutError, ValueError, IndexError, AttributeError):
                self.close()
                if not reused or attempt == 2:  # a kept connection the server closed meanwhile: once more
                    return None
        return None

    async def _exchange(self, data: bytes) -> int:
        loop = asyncio.get_running_loop()
        if self.sock is None:
            sock = socket.socket()
            sock.setblocking(False)
            self.sock = sock
            sock.bind((self.source, 0))
            await loop.sock_connect(sock, ("127.0.0.1", self.port))
        sock = self.sock
        await loop.sock_sendall(sock, data)
        buf = bytearray()
        while (end := buf.find(b"\r\n\r\n")) < 0:
            chunk = await loop.sock_recv(sock, 65536)
            if not chunk:
                raise OSError("closed before the headers")
            buf += chunk
        head = bytes(buf[:end]).lower()
        status = int(head.split(b" ", 2)[1])
        length = int(re.search(rb"content-length: *(\d+)", head).group(1)) if b"content-length" in head else 0
        while len(buf) - end - 4 < length:
            chunk = await loop.sock_recv(sock, 65536)
            if not chunk:
                raise OSError("closed in the body")
            buf += chunk
        if not self.keep or b"connection: close" in head:
            self.close()
        return status


async def fetch(port: int, source: str, method: str, path: str) -> int | None:
    """One request on a new connection from `source`."""
    return await Client(port, source).request(method, path)


async def stall(port: int, source: str, n: int, going) -> None:
    """Keep one stalled connection open while `going()`: headers that never end, or a body shorter
    than announced; when the server cuts it, open another."""
    partial = (b"GET / HTTP/1.1\r\nHost: news.example.org\r\n" if n % 2 else
               b"POST /unsubscribe?token=x HTTP/1.1\r\nHost: news.example.org\r\nContent-Length: 100\r\n\r\nList")
    while going():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        except OSError:
            await asyncio.sleep(0.2)
            continue
        writer.write(partial)
        while going():
            try:
                if not await asyncio.wait_for(reader.read(), 0.5):
                    break  # cut by the server
            except TimeoutError:
                continue
            except OSError:
                break
        writer.close()


async def load(port: int, gets: list[str], posts: list[str], window: float, keep: bool = True,
               cap: float = 3.0) -> tuple[Tally, Tally, float, float]:
    """(GET tally, POST tally, seconds of load, seconds the posts took). The load lasts `window`
    seconds, longer while posts remain (at most cap x window). With `keep`, every other client
    keeps its connection open between requests."""
    get_tally, post_tally = Tally(), Tally()
    queue = list(reversed(posts))
    started = time.monotonic()
    soonest, latest = started + window, started + cap * window
    posts_done = [cap * window]
    running = [True]

    def going() -> bool:
        now = time.monotonic()
        running[0] = running[0] and now < latest and (now < soonest or bool(queue))
        return running[0]

    async def reader_client(i: int) -> None:
        k, client = i, Client(port, f"127.0.2.{i + 1}", keep=keep and i % 2 == 0)
        while going():
            t = time.perf_counter()
            status = await client.request("GET", gets[k % len(gets)])
            get_tally.add(status, time.perf_counter() - t, status == 200)
            k += CLIENTS
        client.close()

    async def poster(i: int) -> None:
        client = Client(port, f"127.0.3.{i + 1}", keep=keep and i % 2 == 0)
        while queue and time.monotonic() < latest:
            path = queue.pop()
            t = time.perf_counter()
            status = await client.request("POST", path)
            post_tally.add(status, time.perf_counter() - t, status == 200)
        client.close()
        if not queue:
            posts_done[0] = min(posts_done[0], time.monotonic() - started)

    tasks = [stall(port, f"127.0.1.{i + 1}", i, going) for i in range(STALLERS)]
    await asyncio.sleep(0.3)  # the stallers are in place before the clients come
    tasks += [reader_client(i) for i in range(CLIENTS)] + [poster(i) for i in range(POSTERS)]
    await asyncio.gather(*tasks)
    return get_tally, post_tally, time.monotonic() - started, posts_done[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(kind: str, cfg: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET, "BENCH_SERVE_CONFIG": str(cfg)}
    if kind == "waitress":
        cmd = [sys.executable, "-m", "newsletter.cli", "serve", "--config", str(cfg), "--port", str(port)]
    elif kind == "gunicorn":
        cmd = [sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", "8", "-w", "2", "--timeout", "15",
               "-b", f"127.0.0.1:{port}", "bench.bench_serve:gunicorn_app()"]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if asyncio.run(fetch(port, "127.0.0.1", "GET", "/")) == 200:
            return proc
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{kind} did not start")


def guarded_app(cfg_path: str, threads: int = 8):
    """The same app `serve` runs (guard + per-thread stores), for the other servers."""
    from newsletter.config import load_config
    from newsletter.store.threads import ThreadStores
    from newsletter.web.access import AccessLog
    from newsletter.web.guard import guard
    from newsletter.web.public import make_app

    cfg = load_config(cfg_path)
    return guard(make_app(ThreadStores(cfg.store_path), cfg), AccessLog(None), per_client=max(2, threads // 2))


def gunicorn_app():
    return guarded_app(os.environ["BENCH_SERVE_CONFIG"])


def child(kind: str, port: int) -> None:
    """Run one of the other servers in this process until killed."""
    cfg_path = os.environ["BENCH_SERVE_CONFIG"]
    if kind == "wsgiref":
        from newsletter.config import load_config
        from newsletter.store import Store
        from newsletter.web.public import make_app
        from newsletter.web.server import LocalServer

        cfg = load_config(cfg_path)
        LocalServer(make_app(Store.open(cfg.store_path), cfg), port).httpd.serve_forever()
    elif kind == "cheroot":
        from cheroot import wsgi

        wsgi.Server(("127.0.0.1", port), guarded_app(cfg_path), numthreads=8, timeout=15).safe_start()


def suppressed(cfg: Path) -> tuple[int, int]:
    """(one-click addresses suppressed, rows for them: equal when each was recorded once)."""
    db = sqlite3.connect(cfg.parent / "var" / "demo.db")
    rows = db.execute("select count(distinct email), count(*) from suppressions where email like 'oneclick%'").fetchone()
    db.execute("delete from suppressions where email like 'oneclick%'")
    db.commit()
    db.close()
    return rows


def run(label: str, kind: str, cfg: Path, gets: list[str], posts: list[str], window: float, keep: bool) -> dict:
    port = free_port()
    proc = start_server(kind, cfg, port)
    try:
        # the old server gets its window and no more: it would not finish the posts in any time
        get_tally, post_tally, secs, post_secs = asyncio.run(
            load(port, gets, posts, window, keep, cap=1.0 if kind == "wsgiref" else 3.0))
    finally:
        proc.terminate()
        proc.wait(10)
    distinct, rows = suppressed(cfg)
    return {"label": label, "get": get_tally, "post": post_tally, "secs": secs, "post_secs": post_secs,
            "distinct": distinct, "rows": rows, "checked": kind == "waitress"}


def meets(r: dict) -> bool:
    g, p = r["get"], r["post"]
    rate = (len(g.latencies) + len(p.latencies)) / r["secs"]
    return (rate >= 500 and g.p(0.99) <= 200 and g.errors + p.errors == 0
            and r["distinct"] == r["rows"] == POSTS and len(p.latencies) == POSTS + REPEATS)


def report(results: list[dict]) -> bool:
    print(f"\nbench_serve: {CLIENTS} clients fetching pages while {STALLERS} clients stall, and {POSTERS} clients "
          f"posting {POSTS:,} one-click unsubscribes (+{REPEATS} repeats); 'keep-alive': every other client keeps "
          "its connection, 'new': a new connection per request")
    print(f"{'server':<22} {'req/s':>6} {'GET/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'POSTs':>6} "
          f"{'in s':>5} {'POST p99':>8} {'stored':>6} {'rows':>6} {'target':>7}")
    ok = True
    for r in results:
        g, p = r["get"], r["post"]
        both = (len(g.latencies) + len(p.latencies)) / r["secs"]
        verdict = ("met" if meets(r) else "NOT MET") if r["checked"] else "-"
        ok = ok and (verdict != "NOT MET")
        print(f"{r['label']:<22} {both:>6.0f} {len(g.latencies) / r['secs']:>6.0f} {g.p(0.5):>7.1f} {g.p(0.99):>7.1f} "
              f"{g.errors + p.errors:>6} {len(p.latencies) - p.errors:>6} {r['post_secs']:>5.1f} {p.p(0.99):>8.1f} "
              f"{r['distinct']:>6} {r['rows']:>6} {verdict:>7}")
    new, old = results[0], next((r for r in results if r["label"].startswith("wsgiref")), None)
    if old:
        answered = len(old["get"].latencies) - old["get"].errors
        rate = answered / old["secs"]
        ratio = f"{len(new['get'].latencies) / new['secs'] / rate:.0f}x" if answered else "no GET answered by wsgiref"
        print(f"{old['label']}: {answered} GETs answered in {old['secs']:.0f} s ({rate:.1f}/s); "
              f"GETs answered per second, {new['label']} / {old['label']}: {ratio}")
    print(f"target (waitress rows): >= 500 req/s, GET p99 <= 200 ms, 0 errors, {POSTS:,} addresses stored, each once")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter windows (fewer POSTs get done)")
    ap.add_argument("--alternatives", action="store_true", help="also cheroot and gunicorn when importable")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.port)
    os.environ["NEWSLETTER_UNSUBSCRIBE_SECRET"] = SECRET
    window, old_window = (8.0, 6.0) if args.quick else (20.0, 10.0)
    runs = [("waitress, keep-alive", "waitress", window, True), ("waitress, new", "waitress", window, False),
            ("wsgiref (main), new", "wsgiref", old_window, False)]
    if args.alternatives:
        for name in ("cheroot", "gunicorn"):
            try:
                __import__(name)
                runs.append((f"{name}, keep-alive", name, window, True))
            except ImportError:
                print(f"({name} is not importable: skipped)")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = make_site(Path(tmp) / "site")
        gets, posts = paths(cfg)
        results = [run(label, kind, cfg, gets, posts, secs, keep) for label, kind, secs, keep in runs]
        ok = report(results)
    sys.exit(0 if ok or args.quick else 1)


if __name__ == "__main__":
    main()
