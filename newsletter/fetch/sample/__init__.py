"""The bundled sample day: the ten papers of the reference issue of 2026-02-09, in arXiv's format.

`arxiv-2026-02-09.atom` is the arXiv API answer for cs.CV submissions of that issue's window;
`<id>v<N>.pdf` are small PDFs whose text is made from each abstract (the tests' arXiv stand-in
serves them for the full-text path). `newsletter run --demo` fetches the feed from
`server.serve_sample()` on 127.0.0.1, so the fetch code path is the network one.
Regenerate with `tools/make_sample.py`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from .atom import Entry, read_entries

SAMPLE_DIR = Path(__file__).resolve().parent
SAMPLE_DAY = date(2026, 2, 9)
FEED_PATH = SAMPLE_DIR / "arxiv-2026-02-09.atom"
SAMPLE_CATEGORIES = ["cs.CV"]
SAMPLE_QUERY = {
    "search_query": "(cat:cs.CV) AND submittedDate:[202602051900 TO 202602061900]",
    "id_list": "",
    "sortBy": "submittedDate",
    "sortOrder": "descending",
    "start": "0",
    "max_results": "2000",
}


def load_entries() -> list[Entry]:
    """The sample day's ten entries (ids with version, real titles, authors and abstracts)."""
    return read_entries(FEED_PATH)
