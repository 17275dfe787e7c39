"""LLM scores for a profile's candidates: batched, strict JSON, retried, split, never fatal for one batch.

Papers go in batches of [llm] batch_size per call and come back as JSON (relevance and
significance, 1-3 each). A malformed batch is asked again once (with a correction), then split
in halves down to single papers; a paper the LLM cannot score is simply missing from the result,
so the caller keeps its keyword score and an LLM outage degrades the selection instead of
emptying it. Fatal LLM errors (bad key, unknown model) and the cost ceiling propagate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path

from ..config import Config, Profile
from ..errors import CostCeilingReached, LLMFatalError
from ..llm import LLMError, prompt_messages, run_sync, strip_code_fence
from ..models import Paper, Score
from ..progress import Progress, emit
from ..templating import override_dir
from ..wording import plural

log = logging.getLogger(__name__)


def score_with_llm(
    llm, cfg: Config, profile: Profile, papers: list[Paper], phash: str, progress: Progress | None = None,
) -> dict[str, Score]:
    """Scores by paper id for the papers the LLM could score."""
    size = cfg.llm.batch_size
    batches = [papers[i : i + size] for i in range(0, len(papers), size)]

    async def main() -> dict[str, Score]:
        done, failed, scored = 0, 0, 0

        async def one(batch: list[Paper]) -> dict[str, Score]:
            nonlocal done, failed, scored
            out = await _score_batch(llm, profile, batch, phash, override_dir(cfg))
            done += 1
            failed += not out  # no paper of the batch got an LLM score
            scored += len(out)
            note = _scoring_note(profile.name, len(batches), failed, scored, len(papers)) \
                if done == len(batches) else ""
            emit(progress, "select", note, done=done, total=len(batches), profile=profile.name)
            return out

        results = await asyncio.gather(*(one(b) for b in batches))
        merged: dict[str, Score] = {}
        for r in results:
            merged.update(r)
        return merged

    return run_sync(main)


def _scoring_note(profile: str, batches: int, failed: int, scored: int, papers: int) -> str:
    """The line at the end of scoring: success only when every batch got scores, else what failed."""
    of = f"{batches} batch" + ("es" if batches != 1 else "")
    if not failed and scored == papers:
        return f"select[{profile}]: scored {plural(papers, 'paper')} in {of}"
    return (f"select[{profile}]: the LLM scored {scored} of {plural(papers, 'paper')} ({failed} of {of} failed); "
            "the others keep their keyword score")


async def _score_batch(llm, profile: Profile, batch: list[Paper], phash: str,
                       overrides: Path | None = None) -> dict[str, Score]:
    """Scores for a batch: ask, retry once on a bad answer, then split; missing ids = unscorable."""
    ids = [p.id for p in batch]
    messages = prompt_messages(profile.language, "score", overrides, profile=profile, papers=batch)
    max_tokens = 150 + 120 * len(batch)
    for attempt in range(2):
        try:
            ans = await llm.acomplete(messages, max_tokens=max_tokens, temperature=0.0, json_mode=True)
        except (CostCeilingReached, LLMFatalError):
            raise
        except LLMError as e:
            log.warning("select[%s]: scoring %d papers failed: %s", profile.name, len(batch), e)
            return {}  # the model is unreachable: splitting would only multiply failing calls
        try:
            if ans.finish_reason == "length":
                raise ScoreFormatError("answer cut off (finish_reason=length)")
            parsed = parse_scores(ans.content, ids)
        except ScoreFormatError as e:
            log.info("select[%s]: bad scoring answer for %d papers (%s); attempt %d", profile.name, len(batch), e,
                     attempt + 1)
            if ans.finish_reason == "length":
                max_tokens *= 2
            else:
                messages = messages + [
                    {"role": "assistant", "content": ans.content[:4000]},
                    {"role": "user", "content": _CORRECTION[profile.language].format(ids=", ".join(ids))},
                ]
            continue
        return {
            pid: Score(paper_id=pid, profile=profile.name, relevance=r, significance=s, reason=why,
                       model=llm.model, prompt_hash=phash)
            for pid, (r, s, why) in parsed.items()
        }
    if len(batch) == 1:
        log.warning("select[%s]: no valid score for %s; it keeps its keyword score", profile.name, ids[0])
        return {}
    half = len(batch) // 2
    left, right = await asyncio.gather(
        _score_batch(llm, profile, batch[:half], phash, overrides),
        _score_batch(llm, profile, batch[half:], phash, overrides),
    )
    return {**left, **right}


_CORRECTION = {
    "zh": '上面的回答不是要求的 JSON。请只输出一个 JSON 对象 {{"scores": [...]}}，为以下每个 id 各给一项：{ids}',
    "en": 'That answer was not the JSON asked for. Answer with only one JSON object {{"scores": [...]}} with one '
          "entry for each of these ids: {ids}",
}


class ScoreFormatError(ValueError):
    """A scoring answer that is not the JSON we asked for."""


def parse_scores(content: str, ids: list[str]) -> dict[str, tuple[int, int, str]]:
    """{"scores": [{"id", "relevance" 1-3, "significance" 1-3, "reason"}]} covering exactly `ids`."""
    text = strip_code_fence((content or "").strip())
    try:
        data = json.loads(text)
    except ValueError:
        # tolerate prose around one JSON value, never a partial one
        m = re.search(r"(\{.*\}|\[.*\])", text, re.DOTALL)
        if not m:
            raise ScoreFormatError("no JSON in the answer") from None
        try:
            data = json.loads(m.group(1))
        except ValueError as e:
            raise ScoreFormatError(f"malformed JSON: {e}") from None
    if isinstance(data, dict):
        data = data.get("scores")
    if not isinstance(data, list):
        raise ScoreFormatError("expected a list of scores")
    out: dict[str, tuple[int, int, str]] = {}
    for item in data:
        if not isinstance(item, dict):
            raise ScoreFormatError("a score is not an object")
        pid = str(item.get("id", "")).strip()
        pid = re.sub(r"v\d+$", "", pid.removeprefix("arXiv:").removeprefix("arxiv:"))
        try:
            rel, sig = int(item.get("relevance")), int(item.get("significance"))
        except (TypeError, ValueError):
            raise ScoreFormatError(f"scores of {pid!r} are not integers") from None
        if not (1 <= rel <= 3 and 1 <= sig <= 3):
            raise ScoreFormatError(f"scores of {pid!r} out of range 1-3")
        out[pid] = (rel, sig, str(item.get("reason", ""))[:300])
    missing = [i for i in ids if i not in out]
    if missing:
        raise ScoreFormatError(f"no score for {', '.join(missing[:3])}")
    return {i: out[i] for i in ids}

