"""Untrusted text (LLM answers, abstracts, titles) to safe HTML, text or Markdown.

Everything an LLM or arXiv wrote goes through here before it reaches a mailbox: markdown-it-py
with raw HTML disabled, bare URLs linkified, and its link validation narrowed to http(s)/mailto/#anchors, then nh3
with a short allow-list (no img, iframe, script, style, event handlers). `$…$` math becomes a
readable monospace span instead of being mangled as emphasis. The per-recipient placeholder
marker (`%%`) is broken up in every untrusted string so no paper can forge a placeholder.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

_DOUBLE_PCT = re.compile(r"%(?=%)")
_ZWSP = "\u200b"

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "ul",
}
ALLOWED_ATTRS = {
    "a": {"href", "title"},
    "span": {"class"},
    "code": {"class"},
    "th": {"style"},
    "td": {"style"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}
_SAFE_LINK = re.compile(r"^(https?://|mailto:|#)", re.IGNORECASE)
_CSS_ALIGN = re.compile(r"^text-align:(left|right|center)$")

# A few TeX commands shown as the characters they stand for, so `$\alpha \leq \beta$` reads well.
TEX_SYMBOLS = {
    r"\alpha": "α", r"\beta": "β", r"\gamma": "γ", r"\delta": "δ", r"\epsilon": "ε", r"\varepsilon": "ε",
    r"\theta": "θ", r"\lambda": "λ", r"\mu": "μ", r"\pi": "π", r"\sigma": "σ", r"\tau": "τ",
    r"\phi": "φ", r"\omega": "ω", r"\Delta": "Δ", r"\Sigma": "Σ", r"\Omega": "Ω", r"\nabla": "∇",
    r"\times": "×", r"\cdot": "·", r"\leq": "≤", r"\le": "≤", r"\geq": "≥", r"\ge": "≥",
    r"\neq": "≠", r"\approx": "≈", r"\sim": "∼", r"\in": "∈", r"\infty": "∞", r"\sum": "∑",
    r"\prod": "∏", r"\int": "∫", r"\partial": "∂", r"\rightarrow": "→", r"\to": "→",
    r"\leftarrow": "←", r"\Rightarrow": "⇒", r"\pm": "±", r"\ldots": "…", r"\cdots": "⋯",
    r"\mathbb{R}": "ℝ", r"\mathbb{N}": "ℕ", r"\mathbb{Z}": "ℤ", r"\mathbb{E}": "𝔼",
}
_TEX_RE = re.compile("|".join(re.escape(k) + (r"(?![A-Za-z])" if k[-1].isalpha() else "")
                              for k in sorted(TEX_SYMBOLS, key=len, reverse=True)))


_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def neutralize(text: str) -> str:
    """Break every `%%` so untrusted text can never contain a personalisation placeholder.

    Also drops bidi embedding/override controls (used to disguise text); right-to-left
    script itself is kept and shown with its natural direction.
    """
    text = _BIDI_CONTROLS.sub("", text)
    if "%%" not in text:
        return text
    return _DOUBLE_PCT.sub("%" + _ZWSP, text)


def tex_readable(src: str) -> str:
    """TeX source with common commands turned into Unicode; the rest stays as written."""
    return _TEX_RE.sub(lambda m: TEX_SYMBOLS[m.group(0)], src)


def _math_inline(state, silent: bool) -> bool:
    """`$…$` and `$$…$$` on one paragraph: kept verbatim (no emphasis, no HTML)."""
    src, pos = state.src, state.pos
    if src[pos] != "$" or (pos > 0 and src[pos - 1] == "\\"):
        return False
    delim = "$$" if src.startswith("$$", pos) else "$"
    start = pos + len(delim)
    end = src.find(delim, start)
    while end != -1 and src[end - 1] == "\\":
        end = src.find(delim, end + 1)
    if end == -1 or end == start:
        return False
    content = src[start:end]
    if delim == "$" and (content[0].isspace() or content[-1].isspace() or "\n\n" in content):
        return False  # "$5 and $10" is money, not math
    if not silent:
        tok = state.push("math_inline", "span", 0)
        tok.content = content
        tok.markup = delim
    state.pos = end + len(delim)
    return True


def _render_math(self, tokens, idx, options, env) -> str:
    content = html.unescape(tokens[idx].content)
    return f'<span class="math">{escapeHtml(tex_readable(content))}</span>'


def _validate_link(url: str) -> bool:
    return bool(_SAFE_LINK.match(url.strip()))


@lru_cache(maxsize=1)
def _md() -> MarkdownIt:
    # linkify (linkify-it-py) makes bare URLs in analyses clickable; every link it finds still
    # goes through validateLink below (http/https/mailto only) and nh3's URL schemes
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "typographer": False})
    md.enable(["table", "strikethrough", "linkify"])
    md.linkify.set({"fuzzy_link": False})  # "train.py" is not a link to Paraguay; http(s):// ones are
    md.disable("image")  # no remote images: `![x](u)` stays visible text with a link
    md.validateLink = _validate_link
    md.inline.ruler.before("escape", "math_inline", _math_inline)
    md.add_render_rule("math_inline", _render_math)
    return md


def _attr_filter(tag: str, attr: str, value: str) -> str | None:
    if attr == "style":  # only the alignment markdown-it puts on table cells
        return value if _CSS_ALIGN.match(value.replace(" ", "")) else None
    if attr == "class":
        return value if value in ("math",) or value.startswith("language-") else None
    return value


def clean_html(fragment: str) -> str:
    """nh3 with our allow-list: the last gate before a mailbox."""
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRS,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        attribute_filter=_attr_filter,
    )


def md_to_html(text: str) -> str:
    """Untrusted Markdown to a safe HTML fragment (tables wrapped so they scroll, not the page)."""
    # neutralize before (backslash escapes) and after (entities such as &#37; decoded by the parser)
    out = neutralize(clean_html(_md().render(neutralize(text or ""))))
    if "<table" in out:
        out = out.replace("<table>", '<div class="tw"><table>').replace("</table>", "</table></div>")
    return out


def md_inline(text: str) -> str:
    """One line of untrusted Markdown (a key finding) without the paragraph around it."""
    return neutralize(clean_html(_md().renderInline(neutralize(text or ""))))


def md_to_text(text: str) -> str:
    """Untrusted Markdown as plain text: markup kept readable, control characters dropped."""
    return _CONTROL_TEXT.sub("", neutralize(text or ""))


_CONTROL_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # control characters but tab and line feed


# what CommonMark would read as raw HTML or an autolink: <tag ...>, </tag>, <!--, <?, <scheme:...>
_TAG_START = re.compile(r"<(?=[A-Za-z][A-Za-z0-9-]*(?:[\s/>]|$)|[A-Za-z][A-Za-z0-9+.-]{1,31}:|[/!?])")
_BAD_DEST = re.compile(r"\]\(\s*<?\s*(javascript|vbscript|data|file):", re.IGNORECASE)


def md_source(text: str) -> str:
    """Untrusted Markdown as it goes into our .md file: no raw HTML tags, no script links.

    `<` that would open a tag or an autolink becomes `&lt;` (shown as `<` by every renderer);
    math such as `$P(f) < 1$` or `$x<y$` is untouched because no tag can start there. Link targets with javascript:/data:
    schemes are defused. The reference file has neither, so its round trip is exact.
    """
    text = neutralize(text or "")
    text = _TAG_START.sub("&lt;", text)
    return _BAD_DEST.sub(lambda m: "](#unsafe-" + m.group(1).lower() + "-", text)


def one_line(text: str) -> str:
    """Titles, authors, key findings and abstracts are one line in the Markdown layout."""
    return " ".join((text or "").split())
