"""The plain-text part of the multipart/alternative: wrapped lines, links listed as [n] at the end.

Markdown markup that reads badly as text (emphasis stars, link syntax, heading hashes) is
removed; lists, numbering and code stay. Lines wrap at 76 columns counting CJK characters as
two; URLs are never broken (they live in the numbered list at the bottom).
"""

from __future__ import annotations

import re

from ..models import Edition
from . import ui
from .digest import display_width, leading_notice, summary_excerpt, takeaway
from .markdown import anchor
from .sanitize import md_to_text, one_line, tex_readable

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
    """Numbered link references shared by one text part."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def ref(self, url: str) -> str:
        if url not in self.urls:
            self.urls.append(url)
        return f"[{self.urls.index(url) + 1}]"


def wrap(line: str, width: int = WIDTH, indent: str = "", first: str | None = None) -> list[str]:
    """Wrap one paragraph by display width; break at spaces, or between CJK characters."""
    first = indent if first is None else first
    out: list[str] = []
    cur, cur_w = first, len(first)
    for token in re.findall(r"\s+|[\u2e80-\u9fff\uac00-\ud7af\uff00-\uffef]|[^\s\u2e80-\u9fff\uac00-\ud7af\uff00-\uffef]+",
                            line):
        if token.isspace():
            token = " "
        tw = sum(display_width(c) for c in token)
        if tw > width - len(indent) and "://" not in token:  # a very long word: cut it, URLs stay whole
            for ch in token:
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


def render_text(ed: Edition, cfg=None, shortened: dict[str, str] | None = None, full_url: str = "") -> str:
    """The plain-text part. `shortened` maps paper id → the analysis text the email shows."""
    s = ui.strings(ed.language)
    links = Links()
    title = one_line(ed.title)
    out = [title, "=" * min(WIDTH, sum(display_width(c) for c in title)), ""]
    out.append(f"{ed.date.isoformat()} · {ui.count_papers(len(ed.entries), ed.language)}")
    out += ["", f"{s['hello']} {ui.intro(len(ed.entries), ed.language)}"]
    notice, summary = leading_notice(ed.summary)
    if notice:
        out += wrap(notice)
    if shortened and s[f"report_{ui.report_mode(cfg)}"]:
        out += wrap(s[f"report_{ui.report_mode(cfg)}"])
    if ed.entries:  # the papers first: one compact list, title and one-line takeaway
        out += [""]
        for i, e in enumerate(ed.entries, start=1):
            out += wrap(md_to_text(one_line(e.paper.title)), first=f"{i:>2}. ", indent="    ")
            tk = takeaway(e)
            if tk:
                out += wrap(md_to_text(tk), indent="    ")
    if summary.strip():
        excerpt = summary_excerpt(summary) if shortened is not None or full_url else summary
        if excerpt:
            out += ["", "", s["summary"].upper(), "-" * 20, ""]
            out += markdown_text(excerpt, links)
    for i, e in enumerate(ed.entries, start=1):
        p, a = e.paper, e.analysis
        out += ["", "", "=" * 40, ""]
        out += wrap(md_to_text(one_line(p.title)), first=f"#{i} ", indent="   ")
        out += wrap(md_to_text(ui.short_authors([one_line(x) for x in p.authors], ed.language)), indent="   ")
        out.append(f"   {', '.join(p.categories)} · {p.published.date().isoformat()}")
        kind = a.kind if a and (a.text.strip() or a.key_findings) else "none"
        out += wrap(f"[{s[f'kind_{kind}']}]", indent="   ")
        if a and a.key_findings:
            out += ["", f"   {s['key_findings']}:"]
            for k in a.key_findings:
                if one_line(k):
                    out += wrap(_inline(md_to_text(one_line(k)), links), first="   - ", indent="     ")
        text = a.text if a else ""
        if shortened is not None and p.id in shortened:
            text = shortened[p.id]
        if text.strip():
            out += ["", f"   {s['analysis']}:", ""]
            out += markdown_text(text, links, indent="   ")
        if shortened is not None and p.id in shortened:
            note = s["shortened"] + (f" {s['read_full']}: {links.ref(f'{full_url}#{anchor(p)}')}"
                                     if full_url else "")
            out += ["", *wrap(note, indent="   ")]
        pdf = p.pdf_url or f"https://arxiv.org/pdf/{p.versioned_id}"
        out += ["", f"   {s['pdf']}: {links.ref(pdf)}  {s['arxiv']}: {links.ref(p.abs_url)}"]
    out += ["", "", "-- ", *wrap(s["why"].replace("{profile}", ui.profile_title(ed.title, ed.profile)))]
    out.append(f"{s['unsubscribe']}: %%NL_UNSUBSCRIBE_URL%%")
    if full_url:
        out.append(f"{s['archive']}: {full_url}")
    if links.urls:
        out += ["", "Links:"]
        out += [f"[{n}] {u}" for n, u in enumerate(links.urls, start=1)]
    return "\n".join(out) + "\n"
