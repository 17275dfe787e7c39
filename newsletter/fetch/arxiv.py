"""New arXiv submissions of one issue day, through the `arxiv` package with arXiv's failure modes handled.

The `arxiv` package builds the URLs, pages through the results and parses the Atom. It does not
know arXiv's bad days: it retries at once without backoff, ignores Retry-After and timeouts, reads an
error feed or a truncated feed as "no papers", and stops silently on an empty first page. The
`_Client` subclass below replaces its one-request method with one that spaces requests, backs off,
and turns each of those cases into an `ArxivError` with a one-line message, so "nothing new today"
(totalResults = 0) is never confused with "arXiv did not answer properly".
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import arxiv
import requests
from arxiv import _feed
from lxml import etree

from .. import stop
from ..config import ArxivConfig
from ..errors import ArxivError, StopRequested
from ..models import Paper
from ..progress import Progress, emit
from ..wording import plural

log = logging.getLogger(__name__)

EASTERN = ZoneInfo("America/New_York")
CUTOFF_HOUR = 14  # arXiv's daily submission deadline, 14:00 US Eastern
MAX_BACKOFF_SECONDS = 300.0
USER_AGENT = f"arxiv-daily-newsletter/0.1 (arxiv.py/{arxiv.__version__})"
_ATOM = "{http://www.w3.org/2005/Atom}"

@dataclass
class FetchResult:
    """One announcement's papers. `announced` is False on days arXiv announces nothing (weekends)."""

    papers: list[Paper]
    since: datetime  # UTC, inclusive: submissions at or after this instant
    until: datetime  # UTC, exclusive: the announcement's submission cutoff
    total: int  # opensearch:totalResults of the query (0 when no request was needed)
    requests: int = 0  # HTTP requests made, retries included
    notes: list[str] = field(default_factory=list)
    announced: bool = True
    attempts: int = 1  # fetches of an empty announcement, see fetch_day


# -- the announcement calendar --------------------------------------------------------------


def _cutoff(d: date) -> datetime:
    """14:00 US Eastern on day d, in UTC (zoneinfo makes it DST-correct)."""
    return datetime(d.year, d.month, d.day, CUTOFF_HOUR, tzinfo=EASTERN).astimezone(UTC)


def _previous_weekday(d: date) -> date:
    d -= timedelta(days=1)
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


def _as_utc(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


def announcement_window(
    day: date, last_until: datetime | None, max_days: int
) -> tuple[datetime, datetime] | None:
    """The submission window [since, until) in UTC of the announcement read on the morning of `day`.

    arXiv announces Sunday-Thursday at 20:00 US Eastern what was submitted before each weekday's
    14:00 cutoff; in Asia that is the next morning. So an issue on Tuesday-Friday covers the
    submissions up to the previous day's cutoff, Monday's covers up to Friday's, and Saturday and
    Sunday have none (None). The window starts at the previous weekday's cutoff, or earlier at
    `last_until` when the last successful fetch ended before that (catch-up after downtime), but
    never more than `max_days` before its end.
    """
    if day.weekday() >= 5:
        return None
    end_day = _previous_weekday(day)
    until = _cutoff(end_day)
    since = _cutoff(_previous_weekday(end_day))
    last = _as_utc(last_until)
    if last is not None and last < since:
        since = last
    return max(since, until - timedelta(days=max_days)), until


def build_query(categories: list[str], since: datetime, until: datetime) -> str:
    """arXiv search_query for the categories and the submission window (minutes, GMT)."""
    cats = " OR ".join(f"cat:{c}" for c in categories)
    return f"({cats}) AND submittedDate:[{since:%Y%m%d%H%M} TO {until:%Y%m%d%H%M}]"


# -- the client ------------------------------------------------------------------------------


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _short(url: str) -> str:
    return url if len(url) <= 160 else url[:157] + "..."


class _Client(arxiv.Client):
    """arxiv.Client whose page request spaces requests, backs off, times out and checks the feed."""

    def __init__(self, cfg: ArxivConfig, progress: Progress | None = None):
        super().__init__(page_size=cfg.page_size, delay_seconds=cfg.delay_seconds, num_retries=cfg.num_retries)
        self.query_url_format = cfg.base_url + "?{}"
        self.timeout = cfg.timeout
        self.backoff_base = max(cfg.delay_seconds, 0.01)
        self.progress = progress
        self.first_header: _feed.FeedHeader | None = None
        self.requests = 0
        self.pages = 0
        self._last_request: float | None = None
        self._session.headers["User-Agent"] = USER_AGENT

    def _say(self, msg: str) -> None:
        emit(self.progress, "fetch", msg)

    def _wait_turn(self, at_least: float) -> None:
        """Wait so that `at_least` seconds separate this request from the previous one; a stop
        request ends the wait at once."""
        if self._last_request is not None:
            left = at_least - (time.monotonic() - self._last_request)
            if left > 0 and stop.wait(left):
                raise StopRequested("stopped on request while waiting for arXiv")
        if stop.stop_requested():
            raise StopRequested("stopped on request before the next arXiv request")

    def _parse_feed(self, url: str, first_page: bool = True, _try_index: int = 0) -> _feed.ParsedFeed:
        """One page, retried with exponential backoff; raises ArxivError when arXiv will not answer."""
        wait = self.delay_seconds
        last_error = ""
        for attempt in range(self.num_retries + 1):
            self._wait_turn(wait)
            try:
                feed = self._request(url, first_page, attempt)
            except _Retryable as e:
                last_error = str(e)
                backoff = min(self.backoff_base * 2**attempt, MAX_BACKOFF_SECONDS)
                backoff *= 1 + random.uniform(0, 0.1)
                if e.retry_after is not None:
                    backoff = max(backoff, min(e.retry_after, MAX_BACKOFF_SECONDS))
                wait = max(self.delay_seconds, backoff)
                if attempt < self.num_retries:
                    self._say(f"arXiv: {last_error}; retry {attempt + 1}/{self.num_retries} in {wait:.1f} s")
                continue
            self.pages += 1
            if first_page:
                self.first_header = feed.header
            return feed
        raise ArxivError(f"arXiv API failed after {self.num_retries + 1} attempts: {last_error}")

    def _request(self, url: str, first_page: bool, attempt: int) -> _feed.ParsedFeed:
        self.requests += 1
        start = url.split("start=")[-1].split("&")[0] if "start=" in url else "0"
        self._say(f"arXiv: requesting results from #{start}" + (f" (attempt {attempt + 1})" if attempt else ""))
        try:
            resp = self._session.get(url, timeout=self.timeout)
        except requests.exceptions.Timeout:
            raise _Retryable(f"no answer within {self.timeout:g} s") from None
        except requests.exceptions.ConnectionError as e:
            raise _Retryable(f"connection failed ({type(e).__name__})") from None
        finally:
            self._last_request = time.monotonic()
        retry_after = _retry_after(resp.headers.get("Retry-After"))
        if resp.content[:64].lstrip().lower().startswith(b"rate exceeded"):
            # arXiv's soft throttle: a plain-text "Rate exceeded." body, sometimes with HTTP 200
            raise _Retryable(f"rate limited (HTTP {resp.status_code} 'Rate exceeded.')", retry_after)
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _Retryable(f"HTTP {resp.status_code}", retry_after)
        if resp.status_code != 200:
            detail = _error_message(resp.content) or resp.reason or ""
            raise ArxivError(f"arXiv API refused the query: HTTP {resp.status_code} {detail}".strip())
        return self._check(resp.content, url, first_page)

    def _check(self, content: bytes, url: str, first_page: bool) -> _feed.ParsedFeed:
        """The feed, if it is a well-formed Atom answer with the results its header promises."""
        try:
            root = etree.fromstring(
                content, parser=etree.XMLParser(resolve_entities=False, no_network=True, recover=False)
            )
        except etree.XMLSyntaxError as e:
            raise _Retryable(f"malformed feed ({str(e).splitlines()[0][:120]})") from None
        if root is None or root.tag != f"{_ATOM}feed":
            raise _Retryable("malformed feed (not an Atom <feed> document)")
        message = _error_entry(root)
        if message is not None:
            raise ArxivError(f"arXiv API returned an error feed: {message}")
        feed = _feed.parse(content)
        if feed.malformed:
            raise _Retryable(f"malformed feed ({feed.error})")
        n_entries = len(root.findall(f"{_ATOM}entry"))
        if len(feed.results) < n_entries:
            raise _Retryable(f"malformed feed ({n_entries - len(feed.results)} entries lack id or dates)")
        if not feed.results:
            if first_page and feed.header.total_results > 0:
                raise _Retryable(f"empty first page although totalResults = {feed.header.total_results}")
            if not first_page:
                raise _Retryable(f"empty page at #{feed.header.start_index} of {feed.header.total_results}")
        return feed


def _error_entry(root) -> str | None:
    """The message of arXiv's error feed (an entry under .../api/errors titled Error), else None."""
    for entry in root.iterfind(f"{_ATOM}entry"):
        eid = entry.findtext(f"{_ATOM}id") or ""
        titled_error = (entry.findtext(f"{_ATOM}title") or "").strip() == "Error"
        if "api/errors" in eid or (titled_error and entry.find(f"{_ATOM}published") is None):
            summary = " ".join((entry.findtext(f"{_ATOM}summary") or "").split())
            return summary or eid
    return None


def _error_message(content: bytes) -> str | None:
    try:
        root = etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return None
    return _error_entry(root) if root is not None else None


# -- results to papers -----------------------------------------------------------------------


def _split_id(short_id: str) -> tuple[str, int]:
    base, sep, v = short_id.rpartition("v")
    if sep and v.isdigit() and base:
        return base, int(v)
    return short_id, 1


def to_paper(r: arxiv.Result) -> Paper:
    pid, version = _split_id(r.get_short_id())
    return Paper(
        id=pid,
        version=version,
        title=" ".join(r.title.split()),
        authors=[a.name for a in r.authors],
        abstract=" ".join(r.summary.split()),
        categories=list(r.categories),
        primary_category=r.primary_category or (r.categories[0] if r.categories else ""),
        published=r.published.astimezone(UTC),
        updated=r.updated.astimezone(UTC),
        pdf_url=r.pdf_url or f"https://arxiv.org/pdf/{pid}v{version}",
        comment=" ".join((r.comment or "").split()),
    )


def dedupe(papers: list[Paper]) -> list[Paper]:
    """One paper per id without version, the highest version kept, first-seen order."""
    best: dict[str, Paper] = {}
    for p in papers:
        if p.id not in best or p.version > best[p.id].version:
            best[p.id] = p
    return list(best.values())


# -- the stage entry point -------------------------------------------------------------------


def fetch_day(
    cfg: ArxivConfig, categories: list[str], day: date, last_until: str | datetime | None,
    progress: Progress | None = None,
) -> FetchResult:
    """The announcement of `day`, asked again while it comes back empty (see fetch_once).

    arXiv's API can lag behind the announcement, so an empty answer on an announcement day is
    retried every [arxiv] empty_retry_minutes for up to empty_retry_hours before the day counts
    as empty (a holiday). A stop request ends the wait at once (StopRequested)."""
    result = fetch_once(cfg, categories, day, last_until, progress)
    deadline = time.monotonic() + cfg.empty_retry_hours * 3600
    interval = cfg.empty_retry_minutes * 60
    while result.announced and not result.papers and time.monotonic() + interval <= deadline:
        emit(progress, "fetch", f"arXiv has nothing yet for {day}; asking again in {interval / 60:g} min "
             f"(until {cfg.empty_retry_hours:g} h have passed, then the day counts as empty)")
        if stop.wait(interval):
            raise StopRequested(f"stopped on request while waiting for arXiv's announcement of {day}")
        attempts = result.attempts + 1
        result = fetch_once(cfg, categories, day, last_until, progress)
        result.attempts = attempts
    return result


def fetch_once(
    cfg: ArxivConfig, categories: list[str], day: date, last_until: str | datetime | None,
    progress: Progress | None = None,
) -> FetchResult:
    """The new submissions of `categories` announced for issue day `day` (see announcement_window).

    Raises ArxivError when arXiv fails (after retries), answers with an error or malformed feed,
    hides its results behind an empty page, or serves a stale feed; a day with no submissions
    (totalResults = 0) is no error and gives no papers.
    """
    if not categories:
        raise ArxivError("no arXiv categories configured; add categories to a [[profiles]] entry")
    window = announcement_window(day, _as_utc(last_until), cfg.max_window_days)
    if window is None:
        until = _cutoff(_previous_weekday(day))
        note = f"no arXiv announcement reaches {day:%A %Y-%m-%d} (arXiv announces Sunday-Thursday evenings)"
        emit(progress, "fetch", note)
        return FetchResult(papers=[], since=until, until=until, total=0, notes=[note], announced=False)
    since, until = window
    client = _Client(cfg, progress)
    search = arxiv.Search(
        query=build_query(sorted(set(categories)), since, until),
        max_results=None,
        sort_by=arxiv.SortCriterion.SubmittedDate,
        sort_order=arxiv.SortOrder.Descending,
    )
    try:
        results = list(client.results(search))
    finally:
        client._session.close()
    total = client.first_header.total_results if client.first_header else 0
    papers = dedupe([to_paper(r) for r in results])
    inside = [p for p in papers if since <= p.published < until]
    if papers and not inside and all(p.published < since for p in papers):
        newest = max(p.published for p in papers)
        raise ArxivError(
            f"arXiv served a stale feed: its newest paper was submitted {newest:%Y-%m-%d %H:%M} UTC, "
            f"before the window start {since:%Y-%m-%d %H:%M} UTC; try again later"
        )
    notes = []
    if len(inside) < len(papers):
        notes.append(f"{len(papers) - len(inside)} papers outside the window were dropped")
        log.info(notes[-1])
    msg = (f"arXiv: {plural(len(inside), 'paper')} submitted {since:%Y-%m-%d %H:%M} – {until:%Y-%m-%d %H:%M} UTC "
           f"({total} results, {client.pages} pages, {client.requests} requests)")
    emit(progress, "fetch", msg)
    return FetchResult(papers=inside, since=since, until=until, total=total, requests=client.requests,
                       notes=notes)
