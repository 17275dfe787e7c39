"""Fetch: takes the categories and an issue day; gives that announcement's new papers as Paper rows.

arXiv's API through the `arxiv` package, with its bad days handled; the bundled sample day for `--demo`.
"""

from .arxiv import FetchResult, announcement_window, fetch_day

__all__ = ["FetchResult", "announcement_window", "fetch_day"]
