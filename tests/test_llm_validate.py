"""Answer checks as pure functions: what never ships, and what is cleaned before it does."""

from __future__ import annotations

import pytest

from newsletter.analyze.validate import (
    ABSTRACT_POINTS,
    FULLTEXT_SECTIONS,
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
