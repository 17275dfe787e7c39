"""arXiv daily newsletter pipeline."""

__version__ = "0.2.0"
