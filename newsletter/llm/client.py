"""Chat completions through litellm: concurrent, retried, cached in SQLite, cost-capped.

Why our own layer: a day is hundreds of calls, so they run concurrently under a limit; providers
answer 429/5xx and hang, so calls time out and retry with exponential backoff and jitter, then
fall back to other models; an answer is never paid twice, so every response is kept in the
store's `llm_calls` table keyed by sha256(model, messages, params) and a re-run makes no call;
a run has a cost ceiling and stops with a clear message when it is reached. A bad key, a missing
permission or an unknown model is fatal: never retried, asked once per model and run (the first
call to a model goes alone), and the run stops with one line. Every wait of a backoff wakes on a
stop request (SIGTERM), so a stopping run never sleeps out a Retry-After.

litellm is imported inside functions only: its import takes seconds and hundreds of MB.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from ..config import Config, LLMConfig
from ..errors import CostCeilingReached, LLMFatalError, StopRequested
from ..stop import stop_requested
from ..store import Store
from .faults import is_fatal, is_retryable, retry_after_seconds, short_error, stoppable_sleep
from .prompts import Messages

log = logging.getLogger(__name__)
T = TypeVar("T")

class LLMError(Exception):
    """A call failed on every model after its retries; the caller falls back (one paper, not the run)."""


class ModelRefused(Exception):
    """This model already refused a call of this run (bad key, unknown model): it is not asked again."""


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


def _stopping(_state: Any) -> bool:
    """tenacity stop condition: no further attempt once a stop was requested."""
    return stop_requested()


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
        self._probed: set[str] = set()  # models whose first call has come back (answer or not)
        self._probe_locks: dict[str, asyncio.Lock] = {}
        self._probe_loop: asyncio.AbstractEventLoop | None = None
        self._fallback_warned: set[str] = set()

    # -- plumbing ---------------------------------------------------------------------------

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._sem is None or self._sem_loop is not loop:
            self._sem = asyncio.Semaphore(self.cfg.concurrency)
            self._sem_loop = loop
        return self._sem

    def _probe_lock(self, model: str) -> asyncio.Lock:
        """The lock the first call to `model` holds; one set per event loop (each stage runs its own)."""
        loop = asyncio.get_running_loop()
        if self._probe_loop is not loop:
            self._probe_locks, self._probe_loop = {}, loop
        return self._probe_locks.setdefault(model, asyncio.Lock())

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
        errors: list[tuple[str, str]] = []
        fatal = 0
        for model in self.models:
            if stop_requested():
                raise StopRequested("stopped on request before the next LLM call")
            try:
                ans = await self._ask(model, messages, params)
            except (CostCeilingReached, StopRequested):
                raise
            except Exception as e:  # noqa: BLE001 - every provider error means: try the next model
                if stop_requested():
                    raise StopRequested("stopped on request while waiting for the LLM") from None
                why = self.dead_models.get(model)
                if why is None:
                    errors.append((model, short_error(e)))
                    log.warning("LLM %s failed: %s", model, short_error(e))
                    continue
                errors.append((model, why))
                fatal += 1
                if not isinstance(e, ModelRefused):  # its first refusal: said once, in the log file and -v
                    log.info("LLM %s refuses every call: %s", model, why)
                continue
            self.store.put_llm_call({
                "key": key, "model": ans.model, "messages": json.dumps(messages, ensure_ascii=False),
                "params": json.dumps(params, sort_keys=True), "response": ans.content,
                "finish_reason": ans.finish_reason, "prompt_tokens": ans.prompt_tokens,
                "completion_tokens": ans.completion_tokens, "cost": ans.cost,
                "duration_ms": 0, "run_id": self.run_id,
            })
            self._warn_fallback(ans.model)
            return ans
        self.failures += 1
        if fatal == len(self.models):
            raise LLMFatalError(
                f"the LLM refuses every call ({_grouped(errors)}); check [llm] model and the key in "
                f"${self.cfg.api_key_env}, or set [llm] on_failure = \"extractive\" to mail extractive analyses "
                "without it"
            )
        raise LLMError(_grouped(errors) or "no model configured")

    def _warn_fallback(self, model: str) -> None:
        """Once per run: a fallback answers because an earlier model refuses every call."""
        dead = [m for m in self.models[: self.models.index(model)] if m in self.dead_models]
        if dead and model not in self._fallback_warned:
            self._fallback_warned.add(model)
            log.warning("LLM %s refuses every call (%s); %s answers instead", dead[0], self.dead_models[dead[0]],
                        model)

    async def _ask(self, model: str, messages: Messages, params: dict[str, Any]) -> Answer:
        """One model, retried; its first call of the run goes alone, so a refused key or unknown
        model costs one request, not one per concurrent call. A refusal marks the model dead."""
        if model not in self._probed:
            async with self._probe_lock(model):
                if model not in self._probed and model not in self.dead_models:
                    try:
                        return await self._with_retries(model, messages, params)
                    finally:
                        self._probed.add(model)
        if model in self.dead_models:
            raise ModelRefused(self.dead_models[model])
        return await self._with_retries(model, messages, params)

    async def _with_retries(self, model: str, messages: Messages, params: dict[str, Any]) -> Answer:
        """Retried with backoff on 429/5xx/timeouts; a fatal error marks the model dead for the run."""
        try:
            return await self._retrying(model, messages, params)
        except Exception as e:
            if is_fatal(e) and not isinstance(e, StopRequested | CostCeilingReached):
                self.dead_models.setdefault(model, short_error(e))
            raise

    async def _retrying(self, model: str, messages: Messages, params: dict[str, Any]) -> Answer:
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

        backoff = wait_exponential_jitter(multiplier=self.backoff, max=self.max_backoff, jitter=self.backoff)

        def wait(state: Any) -> float:
            """Exponential backoff with jitter, or the server's Retry-After when it asks for longer."""
            exc = state.outcome.exception() if state.outcome else None
            return max(backoff(state), min(retry_after_seconds(exc), self.max_backoff))

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.cfg.max_retries + 1) | _stopping,
            wait=wait,
            sleep=stoppable_sleep,
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
            if stop_requested():
                raise StopRequested("stopped on request before the next LLM call")
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


def _grouped(errors: list[tuple[str, str]]) -> str:
    """'m1, m2: why; m3: other why': models that failed alike share one reason (keeps it one short line)."""
    by_why: dict[str, list[str]] = {}
    for model, why in errors:
        by_why.setdefault(why, []).append(model)
    return "; ".join(f"{', '.join(models)}: {why}" for why, models in by_why.items())


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
            return f"[llm] model {model!r} is not a model litellm can route ({short_error(e)}); check its name"
    return None
