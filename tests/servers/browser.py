"""Headless Chromium driven over the DevTools protocol, with a tiny stdlib WebSocket client.

`Browser(tmpdir)` starts Debian's `chromium` (fails, never skips, when it is missing) with its
DevTools endpoint on 127.0.0.1 and a throwaway profile; `browser.visit(url, width)` loads a
page at that viewport width and reports what a test needs: scroll width vs. viewport width,
every network request, console errors and exceptions, and a full-page PNG screenshot.
Every wait is bounded by a deadline.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
    "--mute-audio", "--no-default-browser-check", "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0", "--remote-allow-origins=*",
    # anything that tries to leave the machine fails fast instead of hanging the test
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("chromium is not installed: `make chromium` (or apt-get install -y chromium)")
    real = Path("/usr/lib/chromium/chromium")  # Debian's /usr/bin/chromium is a shell wrapper that forks
    return str(real) if real.exists() else path


class WebSocket:
    """Just enough RFC 6455 for a DevTools session: masked text frames out, frames in."""

    def __init__(self, url: str, timeout: float = 30):
        assert url.startswith("ws://")
        hostport, _, path = url[5:].partition("/")
        host, _, port = hostport.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            head += chunk
        head, _, self.buf = head.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"WebSocket handshake refused: {head[:200]!r}")

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise ConnectionError("DevTools connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, text: str) -> None:
        data = text.encode()
        n = len(data)
        head = bytes([0x81])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self) -> str:
        parts: list[bytes] = []
        for _ in range(100000):
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the WebSocket")
            if opcode == 0x9:  # ping: answer, keep reading
                continue
            if opcode in (0x1, 0x2, 0x0):
                parts.append(payload)
                if b0 & 0x80:
                    return b"".join(parts).decode()
        raise ConnectionError("too many frames")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


@dataclass
class Visit:
    url: str
    width: int
    scroll_width: int = 0
    inner_width: int = 0
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    height: int = 0  # document scroll height in CSS px (the full page a reader scrolls through)


class Browser:
    def __init__(self, tmpdir: Path, timeout: float = 60, extra_flags: tuple[str, ...] = ()):
        """`extra_flags` are added to CHROMIUM_FLAGS, e.g. ("--force-dark-mode",) for a second browser."""
        self.tmpdir = Path(tmpdir)
        self.timeout = timeout
        self.ws: WebSocket | None = None
        profile = self.tmpdir / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        port_file = profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)  # a previous run's port must not be read
        self.log = open(self.tmpdir / "chromium.log", "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [chromium_path(), *CHROMIUM_FLAGS, *extra_flags, f"--user-data-dir={profile}", "about:blank"],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            self._connect(profile)
        except BaseException:
            self.close()
            raise

    def _connect(self, profile: Path) -> None:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not port_file.exists() or not port_file.read_text().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start; see {self.tmpdir / 'chromium.log'}")
            time.sleep(0.05)
        self.port = int(port_file.read_text().split()[0])
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=10).read())
        page = next(t for t in targets if t["type"] == "page")
        self.ws = WebSocket(page["webSocketDebuggerUrl"], timeout=self.timeout)
        self.next_id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)
        raise TimeoutError(method)

    def wait_event(self, method: str, since: int) -> dict:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for e in self.events[since:]:
                if e["method"] == method:
                    return e
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
        raise TimeoutError(method)

    def evaluate(self, expr: str):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r["result"].get("value")

    def emulate_dark(self, dark: bool) -> None:
        """Emulate `prefers-color-scheme: dark` (or clear the emulation) for the following visits."""
        features = [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]
        self.call("Emulation.setEmulatedMedia", media="", features=features)

    def visit(self, url: str, width: int, name: str, height: int = 900) -> Visit:
        """Load `url` at `width` px; measure, collect requests and errors, save a screenshot."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=width < 600)
        start = len(self.events)
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired", start)
        time.sleep(0.3)  # let late console messages and subresources arrive
        self.evaluate("1")  # flush events received meanwhile
        v = Visit(url=url, width=width)
        m = self.evaluate(
            "JSON.stringify({sw: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),"
            " iw: window.innerWidth, h: document.documentElement.scrollHeight})"
        )
        m = json.loads(m)
        v.scroll_width, v.inner_width, v.height = m["sw"], m["iw"], m["h"]
        for e in self.events[start:]:
            p = e.get("params", {})
            if e["method"] == "Network.requestWillBeSent":
                v.requests.append(p["request"]["url"])
            elif e["method"] == "Network.responseReceived":
                v.statuses[p["response"]["url"]] = p["response"]["status"]
            elif e["method"] == "Runtime.exceptionThrown":
                v.errors.append(json.dumps(p.get("exceptionDetails", {}))[:500])
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                v.errors.append(json.dumps(p.get("args", []))[:500])
            elif e["method"] == "Log.entryAdded" and p["entry"].get("level") == "error":
                v.errors.append(p["entry"].get("text", "") + " " + p["entry"].get("url", ""))
        full = min(max(m["h"], height), 8000)
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=full, deviceScaleFactor=1,
                  mobile=width < 600)
        shot = self.call("Page.captureScreenshot", format="png")
        v.screenshot = self.tmpdir / f"{name}-{width}.png"
        v.screenshot.write_bytes(base64.b64decode(shot["data"]))
        return v

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        # chromium's helpers live in the process group we started (start_new_session): end it by its id
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
        if not self.log.closed:
            self.log.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
