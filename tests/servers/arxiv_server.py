"""The local arXiv API / PDF server for tests (it lives in the package so `--demo` uses it too).

    with ArxivServer() as srv:            # the bundled sample day of 2026-02-09
        srv.fail(429, retry_after=1)      # or srv.inject("error_feed" | "malformed" | "empty_page"
        cfg = ArxivConfig(base_url=srv.base_url, delay_seconds=0.05)   # | "stale" | "slow", times=N)
        ...
        srv.gaps()                        # seconds between API requests, as the server saw them
"""

from newsletter.fetch.sample.atom import Entry, feed_xml, read_entries
from tests.servers.arxiv_fake import ArxivServer, Fault, RecordedRequest, compile_query, error_feed, serve_sample

__all__ = [
    "ArxivServer", "Entry", "Fault", "RecordedRequest", "compile_query", "error_feed", "feed_xml",
    "read_entries", "serve_sample",
]
