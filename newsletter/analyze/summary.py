"""The executive summary of an edition: LLM-written and validated, else the extractive overview."""

from __future__ import annotations

import logging

from ..config import Config
from ..errors import CostCeilingReached, LLMFatalError
from ..llm import LLMError, prompt_messages, run_sync
from ..models import Edition
from ..store import Store
from ..templating import override_dir
from .extractive import entries_context, extractive_summary
from .ladder import ask
from .validate import SUMMARY_SECTIONS

log = logging.getLogger(__name__)


def summarize(store: Store, cfg: Config, edition: Edition, llm=None) -> str:
    """The executive summary Markdown of the edition, in its language (extractive without an LLM)."""
    if not edition.entries:
        return ""
    if llm is None:
        return extractive_summary(cfg, edition)
    lang = edition.language
    msgs = prompt_messages(lang, "summary", override_dir(cfg), title=edition.title, entries=entries_context(edition))
    try:
        res, _ = run_sync(lambda: ask(llm, msgs, lang, "summary", SUMMARY_SECTIONS[lang]))
    except (CostCeilingReached, LLMFatalError):
        raise
    except LLMError as e:
        log.warning("summary of %s: LLM failed (%s); using the extractive overview", edition.title, e)
        return extractive_summary(cfg, edition)
    if not res.ok:
        log.warning("summary of %s failed validation %s; using the extractive overview", edition.title, res.failed)
        return extractive_summary(cfg, edition)
    return res.text
