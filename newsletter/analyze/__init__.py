"""Analyze: takes an edition's chosen papers; gives one validated analysis per paper and language,
and the executive summary (full text → abstract → extractive; each paper analysed once per language).
"""

from .budget import DayBudget
from .extractive import extractive_analysis, extractive_summary, key_findings, short_name, split_sentences
from .ladder import analyze_papers
from .summary import summarize

__all__ = ["DayBudget", "analyze_papers", "extractive_analysis", "extractive_summary", "key_findings", "short_name",
           "split_sentences", "summarize"]
