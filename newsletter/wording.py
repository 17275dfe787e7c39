"""Words for people: counts with the right plural ("1 paper", "2 papers")."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 paper', '2 papers'; `many` for irregular plurals."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
