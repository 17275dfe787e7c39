"""Answer checks as pure functions: what never ships, and what is cleaned before it does."""

from __future__ import annotations

import pytest

from newsletter.analyze.validate import (
    ABSTRACT_POINTS,
    FULLTEXT_SECTIONS,
    SUMMARY_SECTIONS,
    check_answer,
    cjk_share,
    is_refusal,
    language_ok,
    strip_preamble,
)
from newsletter.select.llm_scores import ScoreFormatError, parse_scores
from tests.servers.llm_server import default_answer

ZH_FULL = default_answer({"messages": [{"role": "user", "content": "方法设计详解 摘要翻译"}]})
EN_FULL = default_answer({"messages": [{"role": "user", "content": "Method Design"}]})


@pytest.mark.parametrize("text", [
    "好的，我将以AI领域专业高水平研究生的视角，深入分析您提供的论文方法部分，并遵循您提出的分析框架。请提供论文的PDF文件或文本内容，我将为您进行详细的解读。",
    "请提供论文的具体内容，我将为您进行详细的解读。",
    "抱歉，我无法直接访问该论文的PDF链接。",
    "Please provide the paper's full text so I can analyse it.",
    "Could you please share the PDF?",
    "I'm sorry, but I cannot access external links.",
    "I can't open the PDF from arXiv directly.",
    "You haven't provided the paper yet.",
    "请您现在提供论文内容，我将立即开始分析。",  # real: the closing line of a template echo
    "请提供您希望我分析的论文。",
])
def test_refusals_are_recognised(text):
    assert is_refusal(text)


@pytest.mark.parametrize(
    "text", [ZH_FULL, EN_FULL, "We provide code. Results show gains.", "作者提供了代码和数据集的链接。"]
)
def test_real_content_is_not_a_refusal(text):
    assert not is_refusal(text)


def test_preambles_and_signoffs_are_stripped():
    text, removed = strip_preamble(
        "好的，这是一份针对您提供的论文的详细分析：\n\n---\n\n### 1. 摘要翻译\n正文\n\n希望对您有帮助！"
    )
    assert text == "### 1. 摘要翻译\n正文" and len(removed) == 2
    text, _ = strip_preamble(
        "Sure, here is the analysis:\n\n**1. Main contribution**\nBody.\n\nLet me know if you need more."
    )
    assert text == "**1. Main contribution**\nBody."
    text, _ = strip_preamble(
        "作为一名计算机视觉和机器学习领域的专家，我对这篇论文摘要进行了深入分析，"
        "并为您提供以下中文解读：\n\n**1. 论文的主要贡献**"
    )
    assert text == "**1. 论文的主要贡献**"
    # content is left alone
    assert strip_preamble("### 1. Abstract Summary\nSure enough, it works.")[0].startswith("### 1.")


# Cases from real answers of the system we replace (tests/data/answers/labels.toml)
@pytest.mark.parametrize(("answer", "kept"), [
    ("作为计算机视觉和机器学习领域的专家，我对这篇论文摘要进行如下分析：\n\n---\n\n### 1. 论文主要贡献",
     "### 1. 论文主要贡献"),
    ("作为计算机视觉与机器学习领域的专家，我对 **SenseNova-U1** 这篇论文的分析如下：\n\n### 1. 核心贡献摘要",
     "### 1. 核心贡献摘要"),
    ("正文。\n\n---\n\n这份摘要旨在提供一个高层次的概览，帮助您快速识别与您研究兴趣最相关的论文。", "正文。"),
    ("**总结**：正文。\n\n--- \n**此摘要旨在帮助您快速把握前沿动态。建议根据个人研究方向，结合上述推荐选择性深入研读。**",
     "**总结**：正文。"),
    ("正文。\n\n希望这份摘要能为您提供有价值的洞察！", "正文。"),
    # content that looks like chat is kept
    ("作为一种新颖的方法，它提升了效率。\n\n正文。", "作为一种新颖的方法，它提升了效率。\n\n正文。"),
    ("这篇论文提出了一种新方法。\n\n正文。", "这篇论文提出了一种新方法。\n\n正文。"),
    ("正文。\n\n这些论文代表了当前的前沿进展。深入阅读它们将有助于您全面了解该领域的最新动态。",
     "正文。\n\n这些论文代表了当前的前沿进展。深入阅读它们将有助于您全面了解该领域的最新动态。"),
    ("正文。\n\n总而言之，这是一项非常有前景的研究。", "正文。\n\n总而言之，这是一项非常有前景的研究。"),
])
def test_real_preambles_and_signoffs(answer, kept):
    assert strip_preamble(answer)[0] == kept


def test_request_followed_by_the_prompts_own_headings_is_a_refusal():
    """Real: the model asks for the paper, then echoes the seven headings with nothing under them."""
    echo = "\n\n".join(f"### {n}. {h}\n*   **要点**：作者为什么提出这个方法？背后的核心动机是什么？需要特别详尽。"
                        for n, h in enumerate(FULLTEXT_SECTIONS["zh"], start=1))
    answer = ("好的，我将以AI领域高水平研究生的视角，深入分析您提供的论文方法部分，并遵循您提出的分析框架。"
              "请提供您希望我分析的论文内容（例如，方法部分的文本、图表等）。\n\n"
              "在您提供论文内容后，我将按照以下结构进行分析：\n\n---\n\n" + echo + "\n\n---\n\n"
              "请您现在提供论文内容，我将立即开始分析。")
    r = check_answer(answer, "stop", "zh", "fulltext", FULLTEXT_SECTIONS["zh"])
    assert r.checks["missing_headings"] == [] and "refusal" in r.failed  # headings alone would pass


def test_paraphrased_headings_are_found_and_normalised():
    body = "内容充实的分析段落，说明了方法、结果与意义。" * 4
    summary = "\n\n".join(f"{h}\n\n* {body}" for h in [
        "**1. 主要主题与趋势概述：**", "**2. 特别显著或创新的论文**", "## 新兴研究方向",
        "#### **4. 最有价值阅读的论文建议**"])
    r = check_answer("# 执行摘要\n\n" + summary, "stop", "zh", "summary", SUMMARY_SECTIONS["zh"])
    assert r.ok, r.failed
    assert "#### 执行摘要" in r.text and "#### 新兴研究方向" in r.text  # no H1/H2 left in the issue
    abstract = "\n\n".join(f"### {n}. {h}\n\n{body}" for n, h in enumerate(
        ["核心贡献摘要", "关键创新或方法学方法 (Key Innovation or Methodological Approach)", "对计算机视觉领域的影响",
         "受益的相关领域与应用", "可从摘要推断出的局限性"], start=1))
    r = check_answer(abstract, "stop", "zh", "abstract", ABSTRACT_POINTS["zh"])
    assert r.ok, r.failed
    for n, h in enumerate(ABSTRACT_POINTS["zh"], start=1):
        assert f"**{n}. {h}**" in r.text
    en = "\n\n".join(f"{h}\n\n* {'The papers improve efficiency and quality on standard benchmarks. ' * 2}" for h in [
        "**Key Themes:**", "**Notable Papers:**", "**Emerging Techniques:**", "**Suggested Reading:**"])
    assert check_answer(en, "stop", "en", "summary", SUMMARY_SECTIONS["en"]).ok


def test_a_paraphrase_counts_only_on_a_heading_line():
    body = "内容充实的分析段落，说明了方法、结果与意义。" * 4
    points = "\n\n".join(f"**{n}. {h}**\n\n{body}" for n, h in enumerate(ABSTRACT_POINTS["zh"][:4], start=1))
    r = check_answer(points + "\n\n其局限在于数据。", "stop", "zh", "abstract", ABSTRACT_POINTS["zh"])
    assert r.checks["missing_headings"] == ["从摘要中可以推断出的局限性"]


def test_language_share():
    assert language_ok(ZH_FULL, "zh") and not language_ok(ZH_FULL, "en")
    assert language_ok(EN_FULL, "en") and not language_ok(EN_FULL, "zh")
    assert cjk_share("Diffusion 模型 与 VGGT 特征 的 结合 方法 很 有效") > 0.3
    assert cjk_share("") == 0


def test_check_answer_records_each_failure():
    ok = check_answer(ZH_FULL, "stop", "zh", "fulltext", FULLTEXT_SECTIONS["zh"])
    assert ok.ok and ok.checks["failed"] == [] and ok.checks["missing_headings"] == []
    cut = check_answer(ZH_FULL, "length", "zh", "fulltext", FULLTEXT_SECTIONS["zh"])
    assert cut.failed == ["truncated"]
    wrong = check_answer(EN_FULL, "stop", "zh", "fulltext", FULLTEXT_SECTIONS["zh"])
    assert "language" in wrong.failed and "headings" in wrong.failed
    short = check_answer("**1. Main contribution**\nTiny.", "stop", "en", "abstract", ABSTRACT_POINTS["en"])
    assert "too_short" in short.failed and "headings" in short.failed
    only_preamble = check_answer("好的，这是分析：", "stop", "zh", "abstract", ABSTRACT_POINTS["zh"])
    assert "refusal" in only_preamble.failed


def test_headings_are_normalised():
    variants = "\n\n".join(
        f"{form.format(n=n, h=h)}\n\n" + "内容充实的分析段落。" * 20
        for n, (h, form) in enumerate(zip(FULLTEXT_SECTIONS["zh"], [
            "## {n}. {h}", "**{n}. {h}**", "{n}. **{h}**", "### {n}、{h}：", "#### {n}) {h}", "### {h}", "**{n}. {h}**",
        ], strict=True), start=1)
    )
    r = check_answer("# 论文标题\n\n" + variants, "stop", "zh", "fulltext", FULLTEXT_SECTIONS["zh"])
    assert r.ok, r.failed
    for n, h in enumerate(FULLTEXT_SECTIONS["zh"], start=1):
        assert f"### {n}. {h}" in r.text
    assert "# 论文标题" not in r.text


def test_parse_scores_is_strict():
    ids = ["2602.00001", "2602.00002"]
    good = '{"scores": [{"id": "2602.00001", "relevance": 3, "significance": 2, "reason": "x"},' \
           ' {"id": "arXiv:2602.00002v1", "relevance": 1, "significance": 1}]}'
    assert parse_scores(good, ids) == {"2602.00001": (3, 2, "x"), "2602.00002": (1, 1, "")}
    assert parse_scores("```json\n" + good + "\n```", ids)["2602.00001"][0] == 3
    for bad in ['{"scores": [{"id": "2602.00001", "relevance": 3', "not json",
                '{"scores": [{"id": "2602.00001", "relevance": 4, "significance": 1}]}',
                '{"scores": [{"id": "2602.00001", "relevance": "high", "significance": 1}]}',
                '{"scores": [{"id": "2602.00001", "relevance": 3, "significance": 1}]}']:
        with pytest.raises(ScoreFormatError):
            parse_scores(bad, ids)
