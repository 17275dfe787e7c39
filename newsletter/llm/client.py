"""Chat completions through litellm: concurrent, retried, cached in SQLite, cost-capped.

Why our own layer: a day is hundreds of calls, so they run concurrently under a limit; providers
answer 429/5xx and hang, so calls time out and retry with exponential backoff and jitter, then
fall back to other models; an answer is never paid twice, so every response is kept in the
store's `llm_calls` table keyed by sha256(model, messages, params) and a re-run makes no call;
a run has a cost ceiling and stops with a clear message when it is reached.

litellm is imported inside functions only: its import takes seconds and hundreds of MB.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from ..config import Config, LLMConfig
from ..errors import CostCeilingReached, LLMFatalError
from ..stop import stop_requested
from ..store import Store
from .prompts import Messages

log = logging.getLogger(__name__)
T = TypeVar("T")



class LLMError(Exception):
    """A call failed on every model after its retries; the caller falls back (one paper, not the run)."""


@dataclass
class Answer:
    content: str
    finish_reason: str
    model: str
    cached: bool = False
    cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine from sync code, also when the caller already has an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())  # type: ignore[arg-type]
    with ThreadPoolExecutor(1) as ex:
        return ex.submit(lambda: asyncio.run(make())).result()  # type: ignore[arg-type]


def cache_key(model: str, messages: Messages, params: dict[str, Any]) -> str:
    blob = json.dumps({"model": model, "messages": messages, "params": params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.drop_params = True  # e.g. response_format on a model that lacks it: drop, don't fail
    litellm.telemetry = False
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return litellm


def _status(e: BaseException) -> int | None:
    s = getattr(e, "status_code", None)
    return s if isinstance(s, int) else None


_FATAL_NAMES = ("AuthenticationError", "PermissionDeniedError", "NotFoundError")
_FATAL_TEXT = re.compile(
    r"api[_ ]?key|authenticat|unauthori[sz]ed|permission|forbidden|does not exist|model[^.]{0,40}not found"
    r"|no such model|unknown model|invalid model|LLM Provider NOT provided",
    re.IGNORECASE,
)


def is_fatal(e: BaseException) -> bool:
    """Bad key, no permission, unknown model: every further call would fail the same way.

    litellm reports a missing key of some providers as a 500 (an OpenAI client error wrapped as
    an APIError), so the message is read too, not only the status.
    """
    if type(e).__name__ in _FATAL_NAMES:
        return True
    s = _status(e)
    if s in (401, 403, 404):
        return True
    if type(e).__name__ in ("Timeout", "APITimeoutError", "APIConnectionError", "RateLimitError") or s == 429:
        return False
    return bool(_FATAL_TEXT.search(str(e)[:500]))


def is_retryable(e: BaseException) -> bool:
    """429, 5xx, timeouts and connection errors are worth another try; 4xx (bad key, bad request) are not."""
    if isinstance(e, asyncio.TimeoutError | TimeoutError | ConnectionError):
        return True
    if is_fatal(e):
        return False
    name = type(e).__name__
    if name in ("Timeout", "APITimeoutError", "APIConnectionError", "ServiceUnavailableError",
                "RateLimitError", "InternalServerError"):
        return True
    s = _status(e)
    return s is not None and (s == 429 or s == 408 or s >= 500)


def retry_after_seconds(e: BaseException | None) -> float:
    """Seconds from a Retry-After header (seconds form) on the provider's response, else 0."""
    headers = getattr(getattr(e, "response", None), "headers", None)
    try:
        value = headers.get("retry-after") if headers is not None else None
        return max(0.0, float(value)) if value else 0.0
    except (TypeError, ValueError, AttributeError):
        return 0.0


def _short(e: BaseException) -> str:
    """An error for logs: type, status and the first line, never a key (litellm does not echo it)."""
    msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
    s = _status(e)
    return f"{type(e).__name__}{f' {s}' if s else ''}: {msg}"


class LLM:
    """One run's access to the model. `cost` is what this run spent (cached answers are free)."""

    def __init__(self, cfg: LLMConfig, store: Store, run_id: int, *, backoff: float = 1.0, max_backoff: float = 30.0):
        self.cfg = cfg
        self.store = store
        self.run_id = run_id
        self.model = cfg.model
        self.models = [cfg.model, *[m for m in cfg.fallback_models if m and m != cfg.model]]
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.cost = 0.0
        self.calls = 0  # requests actually sent (attempts included)
        self.answers = 0  # answers received from the network
        self.cache_hits = 0
        self.failures = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._sem: asyncio.Semaphore | None = None
        self._sem_loop: asyncio.AbstractEventLoop | None = None
        self._unknown_cost_warned = False
        self.dead_models: dict[str, str] = {}  # model -> why it is fatal (bad key, unknown model)

    # -- plumbing ---------------------------------------------------------------------------

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._sem is None or self._sem_loop is not loop:
            self._sem = asyncio.Semaphore(self.cfg.concurrency)
            self._sem_loop = loop
        return self._sem

    def check_budget(self) -> None:
        ceiling = self.cfg.max_cost_usd
        if ceiling and self.cost >= ceiling:
            raise CostCeilingReached(
                f"LLM cost ceiling reached: this run spent ${self.cost:.4f} of [llm] max_cost_usd = ${ceiling:.2f}; "
                "no more LLM calls are made. Raise max_cost_usd in config.toml (or use a cheaper model) and "
                "run again: answers already paid for are cached and not paid twice."
            )

    def _api_kwargs(self, model: str) -> dict[str, Any]:
        kw: dict[str, Any] = {"timeout": self.cfg.timeout, "num_retries": 0, "max_retries": 0}
        if self.cfg.api_base:
            kw["api_base"] = self.cfg.api_base
        key = self.cfg.api_key()
        if key:
            kw["api_key"] = key
        return kw

    # -- the call ---------------------------------------------------------------------------

    async def acomplete(
        self, messages: Messages, *, max_tokens: int = 2000, temperature: float = 0.2, json_mode: bool = False,
    ) -> Answer:
        """One chat completion: from the cache, or from the first model that answers (LLMError if none)."""
        params: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
        if json_mode:
            params["response_format"] = {"type": "json_object"}
        key = cache_key(self.model, messages, params)
        hit = self.store.get_llm_call(key)
        if hit is not None:
            self.cache_hits += 1
            return Answer(
                content=hit["response"] or "", finish_reason=hit["finish_reason"] or "", model=hit["model"],
                cached=True, prompt_tokens=hit["prompt_tokens"] or 0, completion_tokens=hit["completion_tokens"] or 0,
            )
        errors: list[str] = []
        fatal = 0
        for model in self.models:
            if model in self.dead_models:
                errors.append(f"{model}: {self.dead_models[model]}")
                fatal += 1
                continue
            try:
                ans = await self._with_retries(model, messages, params)
            except CostCeilingReached:
                raise
            except Exception as e:  # noqa: BLE001 - every provider error means: try the next model
                errors.append(f"{model}: {_short(e)}")
                if is_fatal(e):
                    fatal += 1
                    self.dead_models[model] = _short(e)  # never asked again this run
                    log.error("LLM %s refuses every call: %s", model, _short(e))
                else:
                    log.warning("LLM %s failed: %s", model, _short(e))
                continue
            self.store.put_llm_call({
                "key": key, "model": ans.model, "messages": json.dumps(messages, ensure_ascii=False),
                "params": json.dumps(params, sort_keys=True), "response": ans.content,
                "finish_reason": ans.finish_reason, "prompt_tokens": ans.prompt_tokens,
                "completion_tokens": ans.completion_tokens, "cost": ans.cost,
                "duration_ms": 0, "run_id": self.run_id,
            })
            return ans
        self.failures += 1
        if fatal == len(self.models):
            raise LLMFatalError(
                f"the LLM refuses every call ({'; '.join(errors)}); check [llm] model and the key in "
                f"${self.cfg.api_key_env}, or set [llm] on_failure = \"extractive\" to mail without it"
            )
        raise LLMError("; ".join(errors) or "no model configured")

    async def _with_retries(self, model: str, messages: Messages, params: dict[str, Any]) -> Answer:
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

        backoff = wait_exponential_jitter(multiplier=self.backoff, max=self.max_backoff, jitter=self.backoff)

        def wait(state: Any) -> float:
            """Exponential backoff with jitter, or the server's Retry-After when it asks for longer."""
            exc = state.outcome.exception() if state.outcome else None
            return max(backoff(state), min(retry_after_seconds(exc), self.max_backoff))

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.cfg.max_retries + 1),
            wait=wait,
            retry=retry_if_exception(lambda e: is_retryable(e) and not isinstance(e, CostCeilingReached)
                                     and not stop_requested()),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(model, messages, params)
        raise AssertionError("unreachable")

    async def _once(self, model: str, messages: Messages, params: dict[str, Any]) -> Answer:
        litellm = _import_litellm()
        async with self._semaphore():
            self.check_budget()
            self.calls += 1
            t0 = time.monotonic()
            # a backstop above the client's own timeout: a hung connection never blocks the run
            resp = await asyncio.wait_for(
                litellm.acompletion(model=model, messages=messages, **params, **self._api_kwargs(model)),
                timeout=self.cfg.timeout * 1.5 + 5,
            )
        choice = resp.choices[0]
        content = (choice.message.content or "") if choice.message else ""
        usage = getattr(resp, "usage", None)
        pt = int(getattr(usage, "prompt_tokens", 0) or 0)
        ct = int(getattr(usage, "completion_tokens", 0) or 0)
        cost = (getattr(resp, "_hidden_params", None) or {}).get("response_cost")
        if cost is None:
            if not self._unknown_cost_warned:
                log.warning("litellm knows no price for %s: its cost counts as 0 toward max_cost_usd", model)
                self._unknown_cost_warned = True
            cost = 0.0
        self.cost += float(cost)
        self.answers += 1
        self.prompt_tokens += pt
        self.completion_tokens += ct
        log.debug("LLM %s answered in %.2fs (%d+%d tokens, $%.5f)", model, time.monotonic() - t0, pt, ct, cost)
        return Answer(
            content=content, finish_reason=str(choice.finish_reason or ""), model=model, cost=float(cost),
            prompt_tokens=pt, completion_tokens=ct,
        )

    def stats(self) -> dict[str, float]:
        return {
            "calls": self.calls, "answers": self.answers, "cache_hits": self.cache_hits, "failures": self.failures,
            "cost": round(self.cost, 6), "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
        }


def make_llm(cfg: Config, store: Store, run_id: int) -> LLM | None:
    """The run's LLM, or None when no model is configured (the extractive analyzer then runs)."""
    if not cfg.llm.model:
        return None
    return LLM(cfg.llm, store, run_id)


def keyless(cfg: LLMConfig) -> bool:
    """Local servers (Ollama, vLLM, LM Studio on loopback) need no key."""
    return cfg.model.startswith(("ollama", "ollama_chat")) or "127.0.0.1" in cfg.api_base or "localhost" in cfg.api_base


def preflight(cfg: LLMConfig) -> str | None:
    """What is wrong with the LLM settings before any work starts (no network): None when fine.

    A model with no key would only fail later, call after call; a model litellm cannot route
    (a typo in the provider prefix) likewise.
    """
    if not cfg.model:
        return None
    if not cfg.api_key() and not keyless(cfg):
        return (f"[llm] model {cfg.model!r} is set but the environment variable {cfg.api_key_env} is empty; "
                f"export the key there, or clear [llm] model to use the extractive analyzer")
    litellm = _import_litellm()
    for model in [cfg.model, *cfg.fallback_models]:
        try:
            litellm.get_llm_provider(model, api_base=cfg.api_base or None)
        except Exception as e:  # noqa: BLE001 - litellm raises BadRequestError and others
            return f"[llm] model {model!r} is not a model litellm can route ({_short(e)}); check its name"
    return None
