"""Checks on every LLM answer before it can ship: pure functions, no I/O.

The reference issue shipped an "analysis" that asked for the PDF and answers opening with
"好的，这是…". Here an answer is cleaned (preambles and sign-offs stripped, headings normalised)
and then checked: not cut off, not a refusal, required headings present, long enough, in the
right language. `check_answer` returns the cleaned text and a dict of what passed and failed,
which is stored with the analysis (Analysis.checks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..llm.prompts import strip_code_fence

FULLTEXT_SECTIONS = {
    "zh": ["摘要翻译", "方法动机分析", "方法设计详解", "方法对比分析", "实验分析", "实用指南", "总结"],
    "en": [
        "Abstract Summary", "Motivation", "Method Design", "Comparison with Prior Work",
        "Experimental Analysis", "Practical Guide", "Conclusion",
    ],
}
ABSTRACT_POINTS = {
    "zh": [
        "论文的主要贡献", "关键创新点或方法论", "对该领域的潜在影响", "可能受益的相关领域或应用",
        "从摘要中可以推断出的局限性",
    ],
    "en": [
        "Main contribution", "Key innovation or methodology", "Potential impact on the field",
        "Related areas or applications that could benefit", "Limitations inferable from the abstract",
    ],
}
SUMMARY_SECTIONS = {
    "zh": ["主要趋势与主题", "亮点与创新", "新兴研究方向与技术", "建议阅读论文"],
    "en": ["Main Trends and Themes", "Highlights and Innovations", "Emerging Directions", "Recommended Reading"],
}
# Models paraphrase the headings they are given (real answers: "主要主题与趋势概述", "建议阅读全文的论文",
# "核心贡献摘要", "关键创新或方法学方法 (Key Innovation …)"). A required heading is also found in these
# wordings, on a line marked as a heading (#, ** or a number), and is then normalised like the exact one.
HEADING_ALIASES = {
    "主要趋势与主题": r"主要(?:趋势|主题)",
    "亮点与创新": r"(?:特别|最具?)?(?:亮点|显著|重要|突出)",
    "新兴研究方向与技术": r"新兴|新方向",
    "建议阅读论文": r"(?:建议|推荐|重点推荐|最有价值|值得)[^\n]{0,6}?(?:阅读|精读)",
    "Main Trends and Themes": r"(?:main|key|major) (?:trends|themes)",
    "Highlights and Innovations": r"highlights|notable papers|key papers",
    "Emerging Directions": r"emerging",
    "Recommended Reading": r"(?:recommended|suggested) (?:reading|papers)|must[- ]reads?",
    "论文的主要贡献": r"(?:论文的?)?(?:主要|核心)贡献",
    "关键创新点或方法论": r"(?:关键|核心)创新",
    "对该领域的潜在影响": r"对[^\n]{0,10}?影响|潜在影响",
    "可能受益的相关领域或应用": r"(?:可能)?(?:受益|相关领域)",
    "从摘要中可以推断出的局限性": r"[^\n]{0,12}?局限",
    "Main contribution": r"(?:main|core|key) contributions?",
    "Key innovation or methodology": r"key innovations?|methodolog",
    "Potential impact on the field": r"(?:potential )?impact",
    "Related areas or applications that could benefit": r"related (?:areas|fields)|(?:potential )?applications",
    "Limitations inferable from the abstract": r"(?:inferable |possible )?limitations",
}
HEADING_TAIL = 60  # a heading line is its title and at most this many more characters
# Minimum length in characters after cleaning (CJK text is about 2.5× denser than English).
MIN_CHARS = {
    ("fulltext", "zh"): 600, ("fulltext", "en"): 1200,
    ("abstract", "zh"): 250, ("abstract", "en"): 500,
    ("summary", "zh"): 150, ("summary", "en"): 300,
}

CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN_RE = re.compile(r"[A-Za-z]")

# Answers that ask for the input or refuse instead of doing the work.
REFUSAL_PATTERNS = [
    r"请(您)?[^。\n，,]{0,4}?(提供|上传|发送|分享|给出|粘贴)[^。\n]{0,20}(论文|PDF|pdf|全文|文本|内容|文件|原文)",
    r"(无法|不能|没有办法)(直接)?(访问|打开|查看|阅读|下载|获取)[^。\n]{0,15}(论文|PDF|pdf|文件|链接|全文|原文)",
    r"(您|你)(还)?(没有|未)(提供|上传)",
    r"\bplease (provide|share|upload|send|paste|attach)\b[^.\n]{0,40}\b(paper|pdf|text|article|document|content)",
    r"\b(could|can|would) you (please )?(provide|share|upload|send|paste)\b",
    r"\bI (can(no|')t|am unable to|am not able to|don't have (the ability|access)|do not have (the ability|access))"
    r"[^.\n]{0,30}\b(access|open|view|read|browse|download)\b",
    r"\byou (haven't|have not|didn't|did not) (provided|provide|shared|share|uploaded|upload|attached|attach)\b",
    r"\bI'?m sorry,? but I (can(no|')t|am unable)",
    r"\bas an AI( language model)?,? I (can(no|')t|am unable|don't)",
]
REFUSAL_RE = re.compile("|".join(f"(?:{p})" for p in REFUSAL_PATTERNS), re.IGNORECASE)

# Chat preambles: the first lines of an answer that talk to the user instead of being content.
PREAMBLE_RE = re.compile(
    r"^\s*(?:[*_#>\s]*)(?:"
    r"好的|当然|没问题|以下是|下面是|这是|这里是|作为一名|作为一位|作为您|我将|我会|我已|根据您|感谢|非常乐意"
    r"|作为[^，,。\n]{0,30}(?:专家|助理|研究生|研究员|研究者|学者|分析师)"
    r"|(?:sure|certainly|of course|okay|ok|absolutely|great|here is|here's|here are|below is|as an?|"
    r"i will|i'll|i have|i've|let me|happy to|glad to|thanks|thank you)\b"
    r")",
    re.IGNORECASE,
)
# Sign-offs: closing lines offering more help.
SIGNOFF_RE = re.compile(
    r"^\s*[*_>\s]*(?:希望.{0,30}(帮助|有用|参考|启发|洞察)|如果您?(还)?有(任何|其他)|如需|若有|有任何问题|"
    r"(?:这份|此|本|以上)份?(?:摘要|总结|分析|报告|简报|解读)(?:旨在|希望|可以帮助|能帮助)|"
    r"i hope this|hope this helps|let me know|if you (have|need|would like)|feel free to|"
    r"(?:this|the above) (?:summary|analysis|overview) (?:is meant|aims|is intended|should help))",
    re.IGNORECASE,
)
RULE_RE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")


@dataclass
class CheckResult:
    text: str
    checks: dict[str, object] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def cjk_share(text: str) -> float:
    """Share of CJK characters among CJK + Latin letters (0 for text without letters)."""
    cjk = len(CJK_RE.findall(text))
    latin = len(LATIN_RE.findall(text))
    return cjk / (cjk + latin) if cjk + latin else 0.0


def language_ok(text: str, language: str) -> bool:
    """zh: Chinese prose with English terms (share ≥ 0.3); en: almost no CJK (share ≤ 0.05)."""
    share = cjk_share(text)
    return share >= 0.3 if language == "zh" else share <= 0.05


def is_refusal(text: str) -> bool:
    """The answer refuses or asks for the paper instead of analysing it."""
    return bool(REFUSAL_RE.search(text))


def _is_preamble_line(line: str) -> bool:
    s = line.strip()
    if not s or len(s) > 240:
        return False
    if re.match(r"^\s*#{1,6}\s*\d+\.", s) or re.match(r"^\s*\**\s*\d+\.", s):
        return False  # a numbered section heading is content
    return bool(PREAMBLE_RE.match(s))


def strip_preamble(text: str) -> tuple[str, list[str]]:
    """Drop chat preambles at the start and sign-offs at the end; returns (text, removed lines)."""
    lines = text.strip().splitlines()
    removed: list[str] = []
    # leading: preamble lines, blank lines and horizontal rules right after them
    while lines:
        first = lines[0]
        if not first.strip() or RULE_RE.match(first):
            lines.pop(0)
            continue
        if _is_preamble_line(first):
            removed.append(lines.pop(0).strip())
            continue
        break
    while lines:
        last = lines[-1]
        if not last.strip() or RULE_RE.match(last):
            lines.pop()
            continue
        if SIGNOFF_RE.match(last.strip()) and len(last.strip()) < 240:
            removed.append(lines.pop().strip())
            continue
        break
    return "\n".join(lines).strip(), removed


def _heading_line(title: str, tail: int | None = HEADING_TAIL, alias: bool = False) -> re.Pattern[str]:
    # "### 1. 摘要翻译", "**1. 摘要翻译**", "1. **Motivation**", "## 2) Motivation:" ...
    # tail=None: the heading may be followed by text on the same line ("**亮点：** 本期…")
    # alias: the title in another wording (HEADING_ALIASES), only on a line marked as a heading
    words = f"(?:{HEADING_ALIASES[title]})" if alias else re.escape(title)
    return re.compile(
        r"^[ \t]*" + (r"(?=[#*_\d])" if alias else "")
        + r"(?:#{1,6}[ \t]*)?(?:\*\*|__)?[ \t]*(?:\d+[.)、．][ \t]*)?(?:\*\*|__)?[ \t]*"
        + words + (r"[^\n]{0,%d}$".replace("%d", str(tail)) if tail is not None else ""),
        re.IGNORECASE | re.MULTILINE,
    )


def find_heading(text: str, title: str, loose: bool = False) -> re.Match[str] | None:
    """The line that carries the required heading `title`: in its own words, else in a known paraphrase."""
    tail = None if loose else HEADING_TAIL
    m = _heading_line(title, tail).search(text)
    if m is None and title in HEADING_ALIASES:
        m = _heading_line(title, tail, alias=True).search(text)
    return m


def missing_headings(text: str, headings: list[str], loose: bool = False) -> list[str]:
    return [h for h in headings if not find_heading(text, h, loose)]


def normalize_sections(text: str, headings: list[str], style: str = "###") -> str:
    """Rewrite the required headings to one form ("### N. Title" or "**N. Title**") and demote
    stray H1/H2 lines, which would otherwise break the issue's own heading structure."""
    out = text
    for n, h in enumerate(headings, start=1):
        new = f"### {n}. {h}" if style == "###" else f"**{n}. {h}**"
        m = find_heading(out, h)
        if m:
            out = out[:m.start()] + new + out[m.end():]
    # the model often repeats the paper's title as "## Title" before section 1: drop it
    first = re.search(r"^(### 1\.|\*\*1\.)", out, re.MULTILINE)
    if first:
        head = out[: first.start()]
        head = "\n".join(line for line in head.splitlines() if not re.match(r"^\s*#{1,2}\s", line))
        out = (head.strip() + "\n\n" if head.strip() else "") + out[first.start():]
    return demote_titles(out)


def demote_titles(text: str) -> str:
    """`#`/`##` lines become `####`: an answer sits under the issue's own `##` headings."""
    return re.sub(r"^(#{1,2})\s+", "#### ", text, flags=re.MULTILINE).strip()


def check_answer(
    content: str, finish_reason: str | None, language: str, kind: str, headings: list[str] | None = None,
) -> CheckResult:
    """Clean an answer and check it. kind: fulltext | abstract | summary (selects minimum length)."""
    checks: dict[str, object] = {}
    failed: list[str] = []
    text, removed = strip_preamble(strip_code_fence(content or ""))
    checks["preamble_stripped"] = len(removed)
    checks["finish_reason"] = finish_reason or ""
    if finish_reason == "length":
        failed.append("truncated")
    # the stripped lines count too: "好的，我将…请提供论文内容。" followed by an echo of the prompt's
    # headings is a refusal even though what is left has every heading
    if is_refusal("\n".join([*removed, text])) or (removed and not text):
        failed.append("refusal")
    if headings:
        missing = missing_headings(text, headings, loose=kind == "summary")
        checks["missing_headings"] = missing
        if missing:
            failed.append("headings")
        elif kind in ("fulltext", "abstract"):
            text = normalize_sections(text, headings, "###" if kind == "fulltext" else "**")
    if kind == "summary":  # "# 执行摘要" / "## 主要主题与趋势" would break the issue's own headings
        text = demote_titles(text)
    min_chars = MIN_CHARS.get((kind, language), 0)
    checks["chars"] = len(text)
    if len(text) < min_chars:
        failed.append("too_short")
    share = cjk_share(text)
    checks["cjk_share"] = round(share, 3)
    if not language_ok(text, language):
        failed.append("language")
    checks["failed"] = failed
    return CheckResult(text=text, checks=checks, failed=failed)
