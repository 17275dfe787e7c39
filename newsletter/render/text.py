"""The plain-text part of the multipart/alternative: wrapped lines, links listed as [n] at the end.

Markdown markup that reads badly as text (emphasis stars, link syntax, heading hashes) is
removed; lists, numbering and code stay. Lines wrap at 76 columns counting CJK characters as
two; URLs are never broken (they live in the numbered list at the bottom).
"""

from __future__ import annotations

import re

from ..assembly import link_slot, slot, text_mark
from ..models import Edition
from . import ui
from .digest import display_width, leading_notice, summary_excerpt, takeaway, text_width
from .markdown import anchor
from .sanitize import md_to_text, neutralize, one_line, tex_readable

WIDTH = 76
_LINK = re.compile(r"!?\[([^\]\n]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_EMPH = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPH1 = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_MATH = re.compile(r"(?<!\\)\$\$?([^$\n]+?)\$\$?")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)([*+-]|\d+[.)])\s+")
_SAFE_URL = re.compile(r"^(https?://|mailto:)", re.IGNORECASE)


class Links:
    """The link table of one text part. References are slots (`%%NL_L<j>%%`) that each reader's
    assembly numbers [1], [2] … by first appearance (newsletter.assembly)."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self._index: dict[str, int] = {}

    def ref(self, url: str) -> str:
        url = neutralize("".join(url.split()))  # one line, never a placeholder or a marker
        if url not in self._index:
            self._index[url] = len(self.urls)
            self.urls.append(url)
        return link_slot(self._index[url])


# display width of a slot once filled: a rank ("10"), a list number ("10. "), a reference ("[10]")
_SLOT_WIDTH = {"RANK": 2, "NUM": 4}
_SLOT = re.compile(r"%%NL_([A-Z_]+)\d*%%")


def _width(s: str) -> int:
    if "%%" in s:
        return sum(_SLOT_WIDTH.get(m.group(1), 4) for m in _SLOT.finditer(s)) + _width(_SLOT.sub("", s))
    return text_width(s)


_CJK = "\u2e80-\u9fff\uac00-\ud7af\uff00-\uffef"
# a slot is one unbreakable token; a lone % is part of its word
_TOKENS = re.compile(rf"%%NL_[A-Z_]+\d*%%|\s+|[{_CJK}]|(?:[^\s{_CJK}%]|%(?!%NL_))+|%")


def wrap(line: str, width: int = WIDTH, indent: str = "", first: str | None = None) -> list[str]:
    """Wrap one paragraph by display width; break at spaces, or between CJK characters."""
    first = indent if first is None else first
    out: list[str] = []
    cur, cur_w = first, _width(first)
    for token in _TOKENS.findall(line):
        if token.isspace():
            token = " "
        tw = _width(token)
        if tw > width - len(indent) and "://" not in token and not token.startswith("%%"):
            for ch in token:  # a very long word: cut it, URLs stay whole
                if cur_w + display_width(ch) > width and cur.strip():
                    out.append(cur.rstrip())
                    cur, cur_w = indent, len(indent)
                cur += ch
                cur_w += display_width(ch)
            continue
        if cur_w + tw > width and cur.strip():
            out.append(cur.rstrip())
            cur, cur_w = indent, len(indent)
            if token == " ":
                continue
        cur += token
        cur_w += tw
    if cur.strip():
        out.append(cur.rstrip())
    return out


def _inline(text: str, links: Links) -> str:
    def link(m: re.Match) -> str:
        label, url = m.group(1).strip(), m.group(2)
        if not _SAFE_URL.match(url):
            return label
        return f"{label} {links.ref(url)}" if label else links.ref(url)

    text = _LINK.sub(link, text)
    text = _AUTOLINK.sub(lambda m: links.ref(m.group(1)), text)
    text = _MATH.sub(lambda m: tex_readable(m.group(1)), text)
    text = _EMPH.sub(r"\2", text)
    text = _EMPH1.sub(r"\1", text)
    return text.replace("`", "")


def markdown_text(md: str, links: Links, indent: str = "") -> list[str]:
    """Untrusted Markdown as wrapped plain-text lines."""
    out: list[str] = []
    fenced = False
    for raw in md_to_text(md).split("\n"):
        line = raw.rstrip()
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            out.append(indent + "    " + line)
            continue
        if not line.strip():
            if out and out[-1] != "":
                out.append("")
            continue
        h = _HEADING.match(line)
        if h:
            title = _inline(h.group(2), links)
            if out and out[-1] != "":
                out.append("")
            out += wrap(title, indent=indent)
            continue
        if re.fullmatch(r"\s*([-*_])(\s*\1){2,}\s*", line):
            out.append(indent + "-" * 20)
            continue
        b = _BULLET.match(line)
        if b:
            lead = b.group(1).replace("\t", "    ")
            depth = len(lead) // 2
            mark = "-" if b.group(2) in "*+-" else b.group(2)
            first = indent + "  " * min(depth, 4) + mark + " "
            out += wrap(_inline(line[b.end():], links), indent=" " * len(first), first=first)
            continue
        if line.startswith("|"):
            out.append(indent + _inline(line.strip(), links))  # tables stay as written
            continue
        out += wrap(_inline(line.strip(), links), indent=indent)
    while out and out[-1] == "":
        out.pop()
    return out


def marked_text(ed: Edition, cfg=None, *, short: bool = False, cut: dict[str, str] | None = None,
                full_url: str = "") -> tuple[str, list[str]]:
    """The plain-text part with every entry as list item, card and title-only item between marker
    lines, per-reader values as slots (newsletter.assembly), and its link table.

    `short`: the edition is shortened (the report note, the summary excerpt); `cut` maps a paper
    id to the analysis its card shows when the allowance cut it.
    """
    s = ui.strings(ed.language)
    links = Links()
    out = _head(ed, cfg, s, short)
    out += [text_mark("items")]
    for i, e in enumerate(ed.entries):  # the papers first: one compact list, title and one-line takeaway
        out += [text_mark(f"items:{i}"), *wrap(md_to_text(one_line(e.paper.title)), first=slot("NUM"), indent="    ")]
        tk = takeaway(e)
        if tk:
            out += wrap(md_to_text(tk), indent="    ")
    out += [text_mark("/items")]
    notice, summary = leading_notice(ed.summary)
    if summary.strip():
        excerpt = summary_excerpt(summary) if short or full_url else summary
        if excerpt:
            out += ["", "", s["summary"].upper(), "-" * 20, ""]
            out += markdown_text(excerpt, links)
    out += [text_mark("cards")]
    for i, e in enumerate(ed.entries):
        out += [text_mark(f"cards:{i}"), *_card(e, ed.language, links, (cut or {}).get(e.paper.id), full_url)]
    out += [text_mark("/cards"), text_mark("dropped"), "", "", slot("DROPPED_NOTE"), "", text_mark("ditems")]
    for i, e in enumerate(ed.entries):
        title = f"{md_to_text(one_line(e.paper.title))} {links.ref(e.paper.abs_url)}"
        out += [text_mark(f"ditems:{i}"), *wrap(title, first=slot("NUM"), indent="    ")]
    out += [text_mark("/ditems"), text_mark("/dropped")]
    out += ["", "", "-- ", *wrap(s["why"].replace("{profile}", md_to_text(ui.profile_title(ed.title, ed.profile))))]
    out.append(f"{s['unsubscribe']}: %%NL_UNSUBSCRIBE_URL%%")
    if full_url:
        out.append(f"{s['archive']}: {full_url}")
    out[-1] += slot("LINKS")  # "Links:" and the reader's numbered URLs
    return "\n".join(out) + "\n", links.urls


def _head(ed: Edition, cfg, s: dict[str, str], short: bool) -> list[str]:
    title = one_line(ed.title)
    out = [title, "=" * min(WIDTH, text_width(title)), ""]
    out += [f"{ed.date.isoformat()} · {slot('COUNT')}", "", f"{s['hello']} {slot('INTRO')}"]
    notice, _ = leading_notice(ed.summary)
    if notice:
        out += wrap(md_to_text(notice))
    if short and s[f"report_{ui.report_mode(cfg)}"]:
        out += wrap(s[f"report_{ui.report_mode(cfg)}"])
    return out + ([""] if ed.entries else [])


def _card(e, lang: str, links: Links, cut: str | None, full_url: str) -> list[str]:
    """One paper's card: rank, title, authors, kind, key findings, analysis, links, feedback."""
    s = ui.strings(lang)
    p, a = e.paper, e.analysis
    out = ["", "", "=" * 40, ""]
    out += wrap(md_to_text(one_line(p.title)), first=f"#{slot('RANK')} ", indent="   ")
    out += wrap(md_to_text(ui.short_authors([one_line(x) for x in p.authors], lang)), indent="   ")
    out.append(f"   {md_to_text(', '.join(p.categories))} · {p.published.date().isoformat()}")
    out += wrap(f"[{ui.kind_label(a, lang)[1]}]", indent="   ")
    if a and a.key_findings:
        out += ["", f"   {s['key_findings']}:"]
        for k in a.key_findings:
            if one_line(k):
                out += wrap(_inline(md_to_text(one_line(k)), links), first="   - ", indent="     ")
    text = cut if cut is not None else (a.text if a else "")
    if text.strip():
        out += ["", f"   {s['analysis']}:", ""]
        out += markdown_text(text, links, indent="   ")
    if cut is not None:
        note = s["shortened"] + (f" {s['read_full']}: {links.ref(f'{full_url}#{anchor(p)}')}" if full_url else "")
        out += ["", *wrap(note, indent="   ")]
    pdf = p.pdf_url or f"https://arxiv.org/pdf/{p.versioned_id}"
    out += ["", f"   {s['pdf']}: {links.ref(pdf)}  {s['arxiv']}: {links.ref(p.abs_url)}"]
    if full_url:  # "more / less like this": the reader's own signed links, filled per reader
        out += [text_mark("fb"), f"   {s['more_like']}: {slot('FB_UP')}  {s['less_like']}: {slot('FB_DOWN')}",
                text_mark("/fb")]
    return out
