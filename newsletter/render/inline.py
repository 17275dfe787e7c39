"""CSS inlined by premailer, with its per-element work done once per distinct input.

premailer finds each CSS rule's elements with one XPath over the whole page (~70 rules x ~18,000
elements for the union of 10,000 readers' picks: 343 papers), then merges each element's styles and
turns them into HTML attributes, element by element. For a union that was most of a render, and a
render is made once per budget attempt. Here, the same premailer (same options, same output, byte
for byte: tests/test_render_email.py) with:

- selection on an index: the page's elements are indexed once by tag and class, and a selector made
  of tags, classes and ids joined by descendant combinators (all of ours and MJML's) is matched on it
  (each compound keeps the subtrees below its matches: exact for descendant-only chains); any other
  selector goes to premailer's own;
- `merge_styles` and the style-to-attributes step remembered per distinct input (thousands of
  elements share a few hundred combinations).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

_COMPOUND = re.compile(r"(?P<tag>[A-Za-z][A-Za-z0-9-]*|\*)?(?P<rest>(?:[.#][A-Za-z_-][A-Za-z0-9_-]*)*)")
_LOCK = threading.Lock()


Compound = tuple[str | None, tuple[str, ...], str | None]  # tag, classes, id


class _Index:
    """Every element of one page in document order, by tag and by class, and each one's classes."""

    def __init__(self, page) -> None:
        self.page = page
        self.all: list = []
        self.by_tag: dict[str, list] = defaultdict(list)
        self.by_class: dict[str, list] = defaultdict(list)
        self.classes: dict = {}
        for el in page.iter():
            if isinstance(el.tag, str):
                self.all.append(el)
                self.by_tag[el.tag].append(el)
                mine = self.classes[el] = frozenset((el.get("class") or "").split())
                for c in mine:
                    self.by_class[c].append(el)

    def candidates(self, c: Compound) -> list:
        tag, classes, _ = c
        if classes:
            return min((self.by_class.get(x, []) for x in classes), key=len)
        return self.by_tag.get(tag, []) if tag is not None else self.all

    def matches(self, el, c: Compound) -> bool:
        tag, classes, id_ = c
        return (tag is None or el.tag == tag) and (id_ is None or el.get("id") == id_) and \
            self.classes[el].issuperset(classes)


def parse(selector: str) -> list[Compound] | None:
    """Compounds left to right, or None when the selector is more than tags, classes and ids joined
    by descendant combinators."""
    out = []
    for part in selector.split():
        m = _COMPOUND.fullmatch(part)
        if not m or not part:
            return None
        bits = re.findall(r"[.#][A-Za-z0-9_-]+", m["rest"])
        ids = [b[1:] for b in bits if b[0] == "#"]
        if len(ids) > 1:
            return None
        tag = m["tag"] if m["tag"] not in (None, "*") else None
        out.append((tag, tuple(b[1:] for b in bits if b[0] == "."), ids[0] if ids else None))
    return out or None


def _select(index: _Index, chain: list[Compound]) -> list:
    """The elements matching the last compound that lie inside a match of the one before, inside a
    match of the one before that, and so on: each step keeps the subtrees below its matches."""
    inside: set | None = None  # below matches of the compounds so far (None: anywhere)
    for c in chain[:-1]:
        below: set = set()
        for el in index.candidates(c):
            if (inside is None or el in inside) and el not in below and index.matches(el, c):
                below.update(el.iterdescendants())
        inside = below
    page = index.page
    return [el for el in index.candidates(chain[-1])
            if (inside is None or el in inside) and (el is page or el.getparent() is not None)  # not removed
            and index.matches(el, chain[-1])]


@contextlib.contextmanager
def indexed_selection() -> Iterator[None]:
    """premailer's selector factory and merge_styles replaced for the duration (one render at a time)."""
    import premailer.premailer as pm
    from lxml import etree

    original, merge = pm._create_cssselector, pm.merge_styles
    current: list[_Index] = []
    merged: dict[tuple, str] = {}

    def remembered_merge(inline_style, new_styles, classes, remove_unset_properties=False):
        # each rule's parsed style is one list shared by all its elements: its id names it (in this run)
        key = (inline_style, tuple(map(id, new_styles)), tuple(classes), remove_unset_properties)
        if key not in merged:
            merged[key] = merge(inline_style, new_styles, classes, remove_unset_properties)
        return merged[key]

    def factory(selector: str):
        chain = parse(selector)
        if chain is None:
            return original(selector)

        def select(page):
            if not isinstance(page, etree._Element):
                return original(selector)(page)
            if not current or current[0].page is not page:
                current[:] = [_Index(page)]
            return _select(current[0], chain)

        return select

    with _LOCK:
        pm._create_cssselector, pm.merge_styles = factory, remembered_merge
        try:
            yield
        finally:
            pm._create_cssselector, pm.merge_styles = original, merge


def inline_css(html: str) -> str:
    """premailer without network and without its cssutils chatter on the user's terminal."""
    import cssutils

    logging.getLogger("cssutils").setLevel(logging.CRITICAL)
    cssutils.log.setLevel(logging.CRITICAL)
    with indexed_selection():
        return _premailer()(
            html, allow_network=False, cssutils_logging_level=logging.CRITICAL, disable_validation=True,
            keep_style_tags=False, strip_important=False, exclude_pseudoclasses=True,
            remove_classes=False, disable_leftover_css=False,
        ).transform()


@functools.lru_cache(maxsize=1)
def _premailer() -> Any:
    """premailer's class with the style-to-attributes step remembered per style (premailer loads late)."""
    from lxml import etree
    from premailer import Premailer

    class Remembering(Premailer):
        def _style_to_basic_html_attributes(self, element, style_content, force=False):
            if not force:
                return super()._style_to_basic_html_attributes(element, style_content, force)
            cache = self.__dict__.setdefault("_attrs", {})
            if style_content not in cache:
                probe = etree.Element("probe")
                super()._style_to_basic_html_attributes(probe, style_content, force)
                cache[style_content] = list(probe.attrib.items())
            for key, value in cache[style_content]:
                element.attrib[key] = value

    return Remembering
