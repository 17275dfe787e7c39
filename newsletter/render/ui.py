"""Words around the content, in the edition's language (zh or en), and the shared helpers."""

from __future__ import annotations

import re

FONT_STACK = (
    '-apple-system, BlinkMacSystemFont, "Segoe UI", "Helvetica Neue", Arial, '
    '"PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", '
    '"Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif'
)
MONO_STACK = 'SFMono-Regular, Menlo, Consolas, "Liberation Mono", "Noto Sans Mono CJK SC", monospace'

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "hello": "Hello %%NL_NAME%%,",
        "intro": "{n} new papers selected for you today.",
        "intro_one": "1 new paper selected for you today.",
        "summary": "Executive summary",
        "summary_more": "The full summary is in the archive.",
        "summary_attached": "The full summary is in the attached report.",
        "toc": "In this issue",
        "key_findings": "Key findings",
        "analysis": "Analysis",
        "abstract": "Abstract",
        "kind_fulltext": "Full-text analysis · written by an LLM",
        "kind_abstract": "Abstract-only analysis · written by an LLM (full text unavailable)",
        "kind_extractive": "Extractive summary · sentences picked from the paper, not written by an LLM",
        "kind_none": "No analysis",
        "kind_abstract_capped": "Abstract-only analysis · written by an LLM (past today's full-text analysis budget)",
        "kind_extractive_capped": "Extractive summary · sentences picked from the paper, not written by an LLM "
                                  "(past today's analysis budget)",
        "et_al": "et al.",
        "pdf": "PDF",
        "arxiv": "arXiv",
        "shortened": "Shortened to fit your inbox.",
        "read_full": "Read the full analysis",
        "report_html": "The complete report is attached (HTML).",
        "report_markdown": "The complete report is attached (Markdown).",
        "report_archive": "The complete report is in the archive.",
        "report_none": "",
        "why": "You receive this email because you subscribed to the “{profile}” edition of this arXiv digest.",
        "unsubscribe": "Unsubscribe",
        "archive": "View in the browser",
        "nothing": "No papers today.",
        "archive_title": "Archive",
        "papers": "papers",
        "paper": "paper",
        "cards_dropped": "{n} more papers are in the attached report:",
        "cards_dropped_archive": "{n} more papers are in the archive:",
        "cards_dropped_none": "{n} more papers:",
        "cards_dropped_one": "1 more paper is in the attached report:",
        "cards_dropped_archive_one": "1 more paper is in the archive:",
        "cards_dropped_none_one": "1 more paper:",
        "more_like": "More like this",
        "less_like": "Less like this",
        "all_lists": "All lists",
        "lists": "Lists",
        "latest": "latest",
        "latest_editions": "Latest editions",
        "feeds": "Follow in a feed reader",
        "weekly": "weekly",
        "weekly_feeds": "weekly editions",
        "no_editions": "No editions yet.",
        "edition": "edition",
        "editions": "editions",
    },
    "zh": {
        "hello": "%%NL_NAME%%，您好：",
        "intro": "今天为您精选了 {n} 篇新论文。",
        "intro_one": "今天为您精选了 1 篇新论文。",
        "summary": "执行摘要",
        "summary_more": "完整摘要见网页存档。",
        "summary_attached": "完整摘要见附件中的报告。",
        "toc": "本期论文",
        "key_findings": "主要发现",
        "analysis": "分析",
        "abstract": "摘要",
        "kind_fulltext": "全文分析 · 由 LLM 撰写",
        "kind_abstract": "仅基于摘要的分析 · 由 LLM 撰写（未取得全文）",
        "kind_extractive": "抽取式摘要 · 摘自论文原句，非 LLM 撰写",
        "kind_none": "暂无分析",
        "kind_abstract_capped": "仅基于摘要的分析 · 由 LLM 撰写（超出今日全文分析配额）",
        "kind_extractive_capped": "抽取式摘要 · 摘自论文原句，非 LLM 撰写（超出今日分析配额）",
        "et_al": "等",
        "pdf": "PDF",
        "arxiv": "arXiv",
        "shortened": "为适应邮箱大小已节选。",
        "read_full": "阅读完整分析",
        "report_html": "完整报告见附件（HTML）。",
        "report_markdown": "完整报告见附件（Markdown）。",
        "report_archive": "完整报告见网页存档。",
        "report_none": "",
        "why": "您收到这封邮件，是因为您订阅了本 arXiv 速递的「{profile}」栏目。",
        "unsubscribe": "退订",
        "archive": "在浏览器中查看",
        "nothing": "今天没有论文。",
        "archive_title": "往期",
        "papers": "篇论文",
        "paper": "篇论文",
        "cards_dropped": "另有 {n} 篇论文见附件中的完整报告：",
        "cards_dropped_archive": "另有 {n} 篇论文见网页存档：",
        "cards_dropped_none": "另有 {n} 篇论文：",
        "cards_dropped_one": "另有 1 篇论文见附件中的完整报告：",
        "cards_dropped_archive_one": "另有 1 篇论文见网页存档：",
        "cards_dropped_none_one": "另有 1 篇论文：",
        "more_like": "更多类似",
        "less_like": "减少类似",
        "all_lists": "全部栏目",
        "lists": "栏目",
        "latest": "最新",
        "latest_editions": "最新各期",
        "feeds": "用订阅源阅读器订阅",
        "weekly": "周刊",
        "weekly_feeds": "周刊",
        "no_editions": "暂无往期。",
        "edition": "期",
        "editions": "期",
    },
}

DEFAULT_NAME = {"en": "reader", "zh": "读者"}


def strings(language: str) -> dict[str, str]:
    return STRINGS.get(language, STRINGS["en"])


def count_papers(n: int, language: str) -> str:
    """"1 paper", "10 papers", "10 篇论文": a count readers see in the subject, subline and list."""
    s = strings(language)
    return f"{n} {s['paper'] if n == 1 else s['papers']}"


def count_editions(n: int, language: str) -> str:
    """"1 edition", "12 editions", "12 期": the size of a list's archive."""
    s = strings(language)
    return f"{n} {s['edition'] if n == 1 else s['editions']}"


def intro(n: int, language: str) -> str:
    s = strings(language)
    return s["nothing"] if n == 0 else s["intro_one"] if n == 1 else s["intro"].format(n=n)


def count_words(language: str, mode: str) -> dict[str, str]:
    """The per-reader counts as forms with "{n}" (newsletter.assembly fills them per reader):
    the subline's count, the intro sentence and the title-only section's note (`mode`: report_mode)."""
    s = strings(language)
    key = "cards_dropped" if mode in ("html", "markdown") else f"cards_dropped_{mode}"
    return {
        "count": f"{{n}} {s['papers']}", "count_one": f"1 {s['paper']}",
        "intro": s["intro"], "intro_one": s["intro_one"], "intro_zero": s["nothing"],
        "dropped": s[key], "dropped_one": s[f"{key}_one"],
    }


_DATE_SUFFIX = re.compile(r"\s*[-–—·|:]\s*\d{4}-\d{2}-\d{2}\s*$")


def profile_title(edition_title: str, profile: str = "") -> str:
    """The profile's human title, from `edition.title` (f"{profile.title} - {date}").

    Readers see this, never the internal profile name (`cv`), which is only the fallback
    when the title is empty.
    """
    t = _DATE_SUFFIX.sub("", " ".join((edition_title or "").split()))
    return t or profile


def short_authors(authors: list[str], language: str, keep: int = 3) -> str:
    """"A, B, C et al." — a card shows who, not the whole consortium."""
    if len(authors) <= keep + 1:
        return ", ".join(authors)
    return ", ".join(authors[:keep]) + " " + strings(language)["et_al"]


def kind_label(analysis, language: str) -> tuple[str, str]:
    """(kind, label) of a card: the analysis' kind, and words that say so, including when the
    day's analysis budget (not a failure) is why it is not a full-text one."""
    a = analysis
    kind = a.kind if a and (a.text.strip() or a.key_findings) else "none"
    s = strings(language)
    capped = kind in ("abstract", "extractive") and bool(a.checks.get("capped"))
    return kind, s[f"kind_{kind}_capped" if capped else f"kind_{kind}"]


def archive_path(day, profile: str, cadence: str = "daily") -> str:
    """Where an edition's full report lives in the archive (preview and public site alike); a
    weekly edition beside the daily one of its date (a profile name has no dot)."""
    return f"/archive/{day.isoformat()}/{profile}{'.weekly' if cadence == 'weekly' else ''}.html"


def site_url(cfg) -> str:
    """Where the archive is served: `[web] archive_url`, else `[web] public_url`, else ""."""
    web = getattr(cfg, "web", None) if cfg is not None else None
    return (getattr(web, "archive_url", "") or getattr(web, "public_url", "")).rstrip("/") if web else ""


def archive_url(cfg, day, profile: str, cadence: str = "daily") -> str:
    """The absolute archive URL when `[web] archive_url` or `public_url` is set, else "". The
    path is the one `newsletter serve` answers and `newsletter publish` writes."""
    base = site_url(cfg)
    return f"{base}{archive_path(day, profile, cadence)}" if base else ""


def report_mode(cfg) -> str:
    """Where a shortened email's complete report is: "archive" with `[web] archive_url` or
    `public_url` (linked, not attached), else `[render] attach`: "html" | "markdown" | "none"."""
    if cfg is None:
        return "html"
    return "archive" if site_url(cfg) else cfg.render.attach
