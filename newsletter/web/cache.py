"""Pages that do not change between editions (an edition's archive page, the index), built once.

A page is kept with the store's `site_version` at the time it was built; the triggers of migration
m006 move that number whenever an edition, its papers or their analyses change, so the first
request after a new edition builds the pages again. Checking costs one one-row read per request.
A burst of requests for a page not yet built builds it once (the others wait for that build).
Only pages that exist are kept (a 404 is never cached: its paths are the client's choice), at most
`max_pages`, the oldest dropped first.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..store import Store


@dataclass(frozen=True)
class CachedPage:
    data: bytes
    etag: str


class PageCache:
    def __init__(self, max_pages: int = 128):
        self.max_pages = max_pages
        self._lock = threading.Lock()
        self._version: int | None = None
        self._pages: dict[str, CachedPage] = {}
        self._building: dict[str, threading.Lock] = {}
        self.builds = 0  # how many pages were rendered (tests and the bench read it)

    def get(self, store: Store, key: str, build: Callable[[], str | None]) -> CachedPage | None:
        """The page for `key`, built by `build()` (None: no such page) when not kept for this version."""
        version = store.site_version()
        with self._lock:
            if version != self._version:
                self._pages.clear()
                self._version = version
            hit = self._pages.get(key)
        if hit is not None:
            return hit
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:  # one thread builds a page; the others of a burst wait for it, then read it
            try:
                with self._lock:
                    hit = self._pages.get(key) if self._version == version else None
                if hit is not None:
                    return hit
                html = build()
                if html is None:
                    return None
                data = html.encode("utf-8")
                built = CachedPage(data, '"' + hashlib.sha256(data).hexdigest()[:20] + '"')
                with self._lock:
                    self.builds += 1
                    if self._version == version:
                        while len(self._pages) >= self.max_pages:
                            self._pages.pop(next(iter(self._pages)))
                        self._pages[key] = built
                return built
            finally:
                with self._lock:
                    self._building.pop(key, None)
