"""Must-include authors: a reader's names matched against papers' author lists, whole names only.

Case, accents and dots do not matter, "Last, First" is turned round, middle names are ignored, and an
initial stands for any first name with that letter ("K. He" is "Kaiming He"), but "He" alone is only the
author called just "He", and "Li" never matches "Wei Li". Pure Python: no numpy here.
"""

from __future__ import annotations

import unicodedata

from ..models import Paper

SUFFIXES = {"jr", "sr", "ii", "iii", "iv"}

def name_parts(name: str) -> tuple[str, str] | None:
    """(first, last) of an author's name, lower-case, accents and dots dropped; "Last, First" is turned
    round. Middle names are ignored. None for a name with no letters."""
    if "," in name:
        last, _, first = name.partition(",")
        name = f"{first} {last}"
    plain = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower().replace(".", " ")
    words = [w.strip("-'") for w in plain.split()]
    words = [w for w in words if any(c.isalnum() for c in w)]
    while len(words) > 1 and words[-1] in SUFFIXES:
        words.pop()
    if not words:
        return None
    return words[0], words[-1]


def is_initial(word: str) -> bool:
    """'j', 'j-l' (from "J.-L."): only initials."""
    return all(len(part) <= 1 for part in word.split("-"))


def same_person(a: tuple[str, str], b: tuple[str, str], single: bool) -> bool:
    """Same last name, and the same first name or (either being an initial) the same first letter.
    `single`: the name `a` came from had one word only; then it must be the other's whole name."""
    if a[1] != b[1]:
        return False
    if single:
        return a[0] == b[0]
    if a[0] == b[0]:
        return True
    return (is_initial(a[0]) or is_initial(b[0])) and a[0][:1] == b[0][:1]


class AuthorIndex:
    """The pool's papers by author last name, to find a reader's must-include authors quickly."""

    def __init__(self, papers: list[Paper]):
        self.by_last: dict[str, list[tuple[int, tuple[str, str], bool]]] = {}
        for i, p in enumerate(papers):
            for name in p.authors:
                parts = name_parts(name)
                if parts:
                    single = len(name.replace(",", " ").split()) == 1
                    self.by_last.setdefault(parts[1], []).append((i, parts, single))

    def papers_by(self, names: list[str]) -> list[int]:
        """Indices of the pool's papers written by any of `names` (whole names: 'Li' never matches 'Wei Li')."""
        out: set[int] = set()
        for name in names:
            parts = name_parts(name)
            if not parts:
                continue
            single = len(name.replace(",", " ").split()) == 1
            for i, theirs, their_single in self.by_last.get(parts[1], ()):
                if single == their_single and same_person(parts, theirs, single):
                    out.add(i)
        return sorted(out)
