"""A fault-injecting stand-in for export.arxiv.org (tests only): the API query endpoint and PDFs on 127.0.0.1.

It answers `/api/query` honestly from a list of entries (the sample day by default): the
`search_query` is parsed (field:value terms, AND / OR / ANDNOT, parentheses, `cat:`,
`submittedDate:[YYYYMMDDHHMM TO YYYYMMDDHHMM]`, `ti:`/`abs:`/`au:`/`all:` substrings), results are
sorted and paged by `start`/`max_results` with `opensearch:totalResults`, exactly as arXiv does.
`/pdf/<id>` serves the sample PDFs. Tests use `ArxivServer` to inject arXiv's bad days: 429/503 with or without
Retry-After, error feeds, malformed XML, empty pages that contradict totalResults, stale feeds,
slow answers. Every request is recorded with a monotonic timestamp.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.sax.saxutils import escape, quoteattr

from newsletter.fetch.sample import SAMPLE_DIR, load_entries
from newsletter.fetch.sample.atom import ARXIV, ATOM, OPENSEARCH, Entry, atom_time, feed_id, feed_xml

log = logging.getLogger(__name__)

MAX_PAGE = 2000  # arXiv returns at most this many results per request
# status: HTTP `status` (+ Retry-After); rate_text: HTTP 200 "Rate exceeded." (arXiv's soft throttle);
# error_feed: arXiv's Error entry; malformed: a truncated feed; empty_page: no entries but the true
# totalResults; stale: an older window's papers; slow: answer after `seconds`
FAULT_KINDS = ("status", "rate_text", "error_feed", "malformed", "empty_page", "stale", "slow")


class QueryError(ValueError):
    """A search_query the server (like arXiv) cannot run; answered with an error feed and HTTP 400."""


def error_feed(message: str, query: dict[str, str] | None = None) -> bytes:
    """What arXiv answers to a query it cannot run: one entry titled Error under api/errors."""
    anchor = message.replace(" ", "_")
    q = urlencode(query or {})
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<feed xmlns="{ATOM}" xmlns:opensearch="{OPENSEARCH}" xmlns:arxiv="{ARXIV}">\n'
        f'  <id>https://arxiv.org/api/{feed_id(q)}</id>\n'
        f"  <title>arXiv Query: {escape(q)}</title>\n"
        f"  <updated>{atom_time(datetime.now(UTC))}</updated>\n"
        f'  <link href={quoteattr("https://arxiv.org/api/query?" + q)} type="application/atom+xml"/>\n'
        "  <opensearch:itemsPerPage>1</opensearch:itemsPerPage>\n"
        "  <opensearch:totalResults>1</opensearch:totalResults>\n"
        "  <opensearch:startIndex>0</opensearch:startIndex>\n"
        "  <entry>\n"
        f"    <id>http://arxiv.org/api/errors#{escape(anchor)}</id>\n"
        "    <title>Error</title>\n"
        f"    <summary>{escape(message)}</summary>\n"
        f"    <updated>{atom_time(datetime.now(UTC))}</updated>\n"
        f'    <link href={quoteattr("http://arxiv.org/api/errors#" + anchor)} rel="alternate" type="text/html"/>\n'
        "    <author>\n      <name>arXiv api core</name>\n    </author>\n"
        "  </entry>\n"
        "</feed>\n"
    ).encode()


# -- search_query evaluation -----------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<op>ANDNOT|AND|OR)(?=[\s(])"
    r"|(?P<term>(?P<field>[a-zA-Z_]+):(?P<value>\[[^\]]*\]|\"[^\"]*\"|[^\s()]+)))"
)
_RANGE = re.compile(r"^\[\s*(\d{8,14})\s+TO\s+(\d{8,14})\s*\]$")


def _tokens(q: str) -> list[tuple[str, str, str]]:
    out, pos, q = [], 0, q.strip()
    while pos < len(q):
        m = _TOKEN.match(q, pos)
        if not m or m.end() == pos:
            raise QueryError(f"malformed query near {q[pos:pos + 20]!r}")
        if m.group("lp"):
            out.append(("(", "", ""))
        elif m.group("rp"):
            out.append((")", "", ""))
        elif m.group("op"):
            out.append((m.group("op"), "", ""))
        else:
            out.append(("term", m.group("field"), m.group("value").strip('"')))
        pos = m.end()
        while pos < len(q) and q[pos].isspace():
            pos += 1
    return out


def _stamp(s: str, end: bool) -> datetime:
    """YYYYMMDD[HHMM[SS]] in GMT; an upper end includes its whole last unit (minute or day)."""
    fmt = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}.get(len(s))
    if fmt is None:
        raise QueryError(f"submittedDate bound {s!r} is not YYYYMMDDHHMM")
    dt = datetime.strptime(s, fmt).replace(tzinfo=UTC)
    if end:
        dt += {8: timedelta(days=1), 12: timedelta(minutes=1), 14: timedelta(seconds=1)}[len(s)]
        dt -= timedelta(microseconds=1)
    return dt


def _term(fld: str, value: str):
    v = value.lower()
    if fld == "cat":
        return lambda e: value in e.categories
    if fld == "submittedDate":
        m = _RANGE.match(value)
        if not m:
            raise QueryError(f"submittedDate needs [YYYYMMDDHHMM TO YYYYMMDDHHMM], got {value!r}")
        lo, hi = _stamp(m.group(1), False), _stamp(m.group(2), True)
        return lambda e: lo <= e.published <= hi
    if fld == "ti":
        return lambda e: v in e.title.lower()
    if fld == "abs":
        return lambda e: v in e.summary.lower()
    if fld == "au":
        return lambda e: any(v in a.lower() for a in e.authors)
    if fld == "id":
        return lambda e: e.id == value or e.base_id == value
    if fld == "all":
        return lambda e: v in f"{e.title} {e.summary} {' '.join(e.authors)}".lower()
    raise QueryError(f"unsupported search field {fld!r}")


def compile_query(q: str):
    """A predicate Entry -> bool for an arXiv search_query (empty query: everything)."""
    toks = _tokens(q)
    if not toks:
        return lambda e: True
    pos = 0

    def primary():
        nonlocal pos
        if pos >= len(toks):
            raise QueryError("query ends too early")
        kind, fld, value = toks[pos]
        pos += 1
        if kind == "(":
            inner = expr()
            if pos >= len(toks) or toks[pos][0] != ")":
                raise QueryError("unbalanced parentheses")
            pos += 1
            return inner
        if kind == "term":
            return _term(fld, value)
        raise QueryError(f"unexpected {kind!r}")

    def expr():
        nonlocal pos
        left = primary()
        while pos < len(toks) and toks[pos][0] in ("AND", "OR", "ANDNOT"):
            op = toks[pos][0]
            pos += 1
            right = primary()
            if op == "AND":
                left = (lambda a, b: lambda e: a(e) and b(e))(left, right)
            elif op == "OR":
                left = (lambda a, b: lambda e: a(e) or b(e))(left, right)
            else:
                left = (lambda a, b: lambda e: a(e) and not b(e))(left, right)
        return left

    pred = expr()
    if pos != len(toks):
        raise QueryError(f"unexpected {toks[pos][0]!r} after the query")
    return pred


# -- the server ------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    at: float  # time.monotonic() when the request arrived
    path: str
    params: dict[str, str]
    status: int = 0
    fault: str = ""


@dataclass
class Fault:
    kind: str
    remaining: int
    path: str = "/api/query"
    start: int | None = None  # only requests with this start= (None: any)
    status: int = 503
    retry_after: str | None = None
    message: str = "incorrect query"
    seconds: float = 0.0
    stale_days: int = 7


@dataclass
class _State:
    entries: list[Entry]
    pdf_dir: Path
    rewrite_pdf_links: bool
    faults: list[Fault] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    root_url: str = ""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # a client that gave up (timeout tests) leaves a broken pipe behind: not worth a traceback
        log.debug("arxiv test server: error serving %s", client_address, exc_info=True)


class ArxivServer:
    """The arXiv API and PDF host on 127.0.0.1:<random port>, with injectable faults.

    Use as a context manager; `base_url` goes into [arxiv].base_url.
    """

    def __init__(self, entries: list[Entry] | None = None, pdf_dir: Path | None = None,
                 rewrite_pdf_links: bool = True):
        self.state = _State(entries=list(entries) if entries is not None else load_entries(),
                            pdf_dir=pdf_dir or SAMPLE_DIR, rewrite_pdf_links=rewrite_pdf_links)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> ArxivServer:
        self._httpd = _HTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.state.root_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="arxiv-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ArxivServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        return self.state.root_url

    @property
    def base_url(self) -> str:
        return self.state.root_url + "/api/query"

    # content
    @property
    def entries(self) -> list[Entry]:
        return self.state.entries

    def set_entries(self, entries: list[Entry]) -> None:
        with self.state.lock:
            self.state.entries = list(entries)

    # faults
    def inject(self, kind: str, times: int = 1, **options: object) -> None:
        """Make the next `times` matching requests fail this way (see FAULT_KINDS and Fault)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        with self.state.lock:
            self.state.faults.append(Fault(kind=kind, remaining=times, **options))  # type: ignore[arg-type]

    def fail(self, status: int, times: int = 1, retry_after: str | int | None = None) -> None:
        self.inject("status", times, status=status,
                    retry_after=None if retry_after is None else str(retry_after))

    def clear_faults(self) -> None:
        with self.state.lock:
            self.state.faults.clear()

    # what happened
    @property
    def requests(self) -> list[RecordedRequest]:
        with self.state.lock:
            return list(self.state.requests)

    def query_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/api/query"]

    def gaps(self) -> list[float]:
        """Seconds between consecutive API requests, as the server saw them."""
        times = [r.at for r in self.query_requests()]
        return [b - a for a, b in zip(times, times[1:], strict=False)]


def _take_fault(state: _State, path: str, params: dict[str, str]) -> Fault | None:
    with state.lock:
        for f in state.faults:
            if not path.startswith(f.path):
                continue
            if f.start is not None and int(params.get("start", "0") or 0) != f.start:
                continue
            f.remaining -= 1
            if f.remaining <= 0:
                state.faults.remove(f)
            return f
    return None


def _sort(entries: list[Entry], by: str, order: str) -> list[Entry]:
    if by == "lastUpdatedDate":
        key = lambda e: (e.updated, e.id)  # noqa: E731
    else:  # submittedDate, and relevance (which has no meaning here) as submission order
        key = lambda e: (e.published, e.id)  # noqa: E731
    return sorted(entries, key=key, reverse=order != "ascending")


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "arxiv-test-server/1.0"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            log.debug("%s " + format, self.address_string(), *args)

        def _send(self, status: int, body: bytes, ctype: str = "application/atom+xml; charset=utf-8",
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self) -> None:  # noqa: N802
            self.do_GET()

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            rec = RecordedRequest(at=time.monotonic(), path=parts.path, params=params)
            with state.lock:
                state.requests.append(rec)
            fault = _take_fault(state, parts.path, params)
            rec.fault = fault.kind if fault else ""
            if fault and fault.kind == "slow":
                time.sleep(fault.seconds)
                fault = None
            if fault and fault.kind == "status":
                rec.status = fault.status
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                return self._send(fault.status, f"HTTP {fault.status}\n".encode(), "text/plain", headers)
            if fault and fault.kind == "rate_text":
                rec.status = 200
                return self._send(200, b"Rate exceeded.", "text/plain")
            if parts.path == "/api/query":
                rec.status, body = self._query(params, fault)
                return self._send(rec.status, body)
            if parts.path.startswith("/pdf/") or parts.path.startswith("/abs/"):
                rec.status = self._pdf(parts.path.split("/", 2)[2])
                return None
            rec.status = 404
            return self._send(404, b"not found\n", "text/plain")

        def _query(self, params: dict[str, str], fault: Fault | None) -> tuple[int, bytes]:
            if fault and fault.kind == "error_feed":
                return 200, error_feed(fault.message, params)
            try:
                start = int(params.get("start", "0") or 0)
                size = min(int(params.get("max_results", "10") or 10), MAX_PAGE)
                if start < 0 or size < 0:
                    raise ValueError
            except ValueError:
                return 400, error_feed("start and max_results must be non-negative integers", params)
            if params.get("id_list"):
                return 400, error_feed("id_list is not supported by the test server", params)
            try:
                pred = compile_query(params.get("search_query", ""))
            except QueryError as e:
                return 400, error_feed(str(e), params)
            with state.lock:
                entries = list(state.entries)
            if fault and fault.kind == "stale":
                # a cached answer to an older query: the same kind of papers, submitted days earlier
                shift = timedelta(days=fault.stale_days)
                hits = [replace(e, published=e.published - shift, updated=e.updated - shift) for e in entries]
            else:
                hits = [e for e in entries if pred(e)]
            hits = _sort(hits, params.get("sortBy", "relevance"), params.get("sortOrder", "descending"))
            page = hits[start:start + size]
            if state.rewrite_pdf_links:
                page = [e.with_pdf(f"{state.root_url}/pdf/{e.id}") for e in page]
            if fault and fault.kind == "empty_page":
                page = []
            body = feed_xml(page, total=len(hits), start=start, items_per_page=size, query=params)
            if fault and fault.kind == "malformed":
                body = body[: max(200, len(body) // 2)]  # a truncated answer, as after a dropped connection
            return 200, body

        def _pdf(self, ident: str) -> int:
            ident = ident.removesuffix(".pdf")
            if not re.fullmatch(r"[\w.\-/]+", ident):
                self._send(404, b"not found\n", "text/plain")
                return 404
            candidates = [state.pdf_dir / f"{ident}.pdf"]
            if not re.search(r"v\d+$", ident):
                candidates = sorted(state.pdf_dir.glob(f"{ident}v*.pdf"),
                                    key=lambda p: int(p.stem.rsplit("v", 1)[1]), reverse=True)
            for p in candidates:
                if p.is_file() and p.parent == state.pdf_dir:
                    self._send(200, p.read_bytes(), "application/pdf")
                    return 200
            self._send(404, b"no PDF for this id\n", "text/plain")
            return 404

    return Handler


@contextmanager
def serve_sample(entries: list[Entry] | None = None) -> Iterator[str]:
    """The sample day on a local arXiv stand-in; yields the base_url for [arxiv].base_url."""
    with ArxivServer(entries) as server:
        yield server.base_url
