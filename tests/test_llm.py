"""The LLM client against a real local OpenAI-compatible server, through litellm (no mocks)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys

import pytest

from newsletter.errors import CostCeilingReached
from newsletter.errors import RunError as PipelineError
from newsletter.llm import LLMError, cache_key, make_llm, run_sync
from newsletter.store import Store
from tests.servers.llm_server import LLMStub, Reply, make_config

KEY = "sk-test-very-secret-4242"
MSG = [{"role": "user", "content": "Say OK."}]


@pytest.fixture(scope="module")
def stub():
    with LLMStub(max_hang=20) as s:
        yield s


@pytest.fixture
def env(stub, tmp_path, monkeypatch):
    stub.reset()
    monkeypatch.setenv("NEWSLETTER_TEST_LLM_KEY", KEY)

    def build(**llm):
        cfg = make_config(tmp_path, stub, **llm)
        store = Store.open(cfg.store_path)
        run_id = store.start_run("run", None)
        client = make_llm(cfg, store, run_id)
        client.backoff = 0.01  # keep retries fast in tests; the schedule is still exponential with jitter
        client.max_backoff = 0.05
        return cfg, store, client

    yield build
    stub.release_hangs()


def complete(llm, messages, **kw):
    """The LLM's async call, from sync test code."""
    return run_sync(lambda: llm.acomplete(messages, **kw))


def test_no_model_means_no_llm(tmp_path):
    cfg = make_config(tmp_path, None)
    assert make_llm(cfg, Store.open(":memory:"), 1) is None


def test_answer_is_cached_and_rerun_makes_no_call(env, stub):
    cfg, store, llm = env()
    a = complete(llm, MSG, max_tokens=50)
    assert a.content == "OK" and not a.cached
    assert len(stub.requests) == 1
    assert stub.requests[0].headers.get("authorization") == f"Bearer {KEY}"
    # a new run (new LLM object, same store) answers from the cache
    llm2 = make_llm(cfg, store, store.start_run("run", None))
    b = complete(llm2, MSG, max_tokens=50)
    assert b.cached and b.content == "OK"
    assert len(stub.requests) == 1
    assert llm2.calls == 0 and llm2.cost == 0
    # other parameters are another question
    complete(llm2, MSG, max_tokens=51)
    assert len(stub.requests) == 2
    assert cache_key("m", MSG, {"a": 1}) != cache_key("m2", MSG, {"a": 1})


@pytest.mark.parametrize("status", [429, 500])
def test_429_and_500_are_retried(env, stub, status):
    _, _, llm = env()
    stub.script(Reply(status=status), Reply(status=status))
    a = complete(llm, MSG)
    assert a.content == "OK"
    assert [r.status for r in stub.requests] == [status, status, 200]


def test_gives_up_after_max_retries_then_falls_back(env, stub):
    _, _, llm = env(max_retries=1, fallback_models=["openai/stub-backup"])
    stub.when(lambda b: b.get("model") == "stub-model", Reply(status=500))
    a = complete(llm, MSG)
    assert a.model == "openai/stub-backup" and a.content == "OK"
    models = [r.body["model"] for r in stub.requests]
    assert models == ["stub-model", "stub-model", "stub-backup"]


def test_all_models_failing_raises_llm_error_without_the_key(env, stub, caplog):
    _, _, llm = env(max_retries=1)
    stub.when(lambda b: True, Reply(status=500))
    with caplog.at_level(logging.DEBUG), pytest.raises(LLMError) as e:
        complete(llm, MSG)
    assert KEY not in str(e.value) and KEY not in caplog.text
    assert llm.failures == 1


def test_bad_request_is_not_retried(env, stub):
    _, _, llm = env(max_retries=3)
    stub.script(Reply(status=400, body=b'{"error": {"message": "bad request", "type": "invalid_request_error"}}'))
    with pytest.raises(LLMError):
        complete(llm, MSG)
    assert len(stub.requests) == 1


def test_hung_call_times_out_and_is_retried(env, stub):
    _, _, llm = env(timeout=0.5)
    stub.script(Reply(hang=True))
    a = complete(llm, MSG)
    assert a.content == "OK"
    assert len(stub.requests) == 2
    assert stub.hanging == 1  # we got the answer while the first request was still hung: the client gave up on it


def test_concurrency_is_limited(env, stub):
    _, _, llm = env(concurrency=3)
    stub.latency = 0.05
    try:
        async def many():
            return await asyncio.gather(*(llm.acomplete([{"role": "user", "content": f"n{i}"}]) for i in range(12)))

        answers = asyncio.run(many())
    finally:
        stub.latency = 0.0
    assert len(answers) == 12 and len(stub.requests) == 12
    assert 1 < stub.max_in_flight <= 3


def test_cost_ceiling_stops_with_a_clear_message(env, stub):
    # a model litellm knows the price of; the stub reports a million prompt tokens per answer
    _, store, llm = env(model="openai/gpt-4o-mini", max_cost_usd=0.25, concurrency=1)
    stub.when(lambda b: True, Reply(prompt_tokens=1_000_000, completion_tokens=10))
    complete(llm, [{"role": "user", "content": "1"}])
    assert 0.1 < llm.cost < 0.25
    complete(llm, [{"role": "user", "content": "2"}])
    assert llm.cost >= 0.25
    with pytest.raises(CostCeilingReached) as e:
        complete(llm, [{"role": "user", "content": "3"}])
    assert isinstance(e.value, PipelineError)
    assert "max_cost_usd" in str(e.value) and "cost ceiling" in str(e.value)
    assert len(stub.requests) == 2
    # answers already paid for still come from the cache
    assert complete(llm, [{"role": "user", "content": "1"}]).cached
    assert store.llm_totals(llm.run_id)["calls"] == 2


def test_sync_call_inside_a_running_loop(env):
    _, _, llm = env()

    async def inside():
        return complete(llm, MSG)

    assert asyncio.run(inside()).content == "OK"


def test_importing_the_stage_modules_does_not_import_litellm():
    code = (
        "import sys, newsletter.llm, newsletter.select, newsletter.analyze, newsletter.analyze.fulltext, "
        "newsletter.analyze.validate, newsletter.deliver, newsletter.pipeline; "
        "bad = [m for m in ('litellm', 'openai', 'pypdf') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_retry_after_header_is_read():
    from types import SimpleNamespace

    from newsletter.llm.faults import retry_after_seconds

    err = SimpleNamespace(response=SimpleNamespace(headers={"retry-after": "7"}))
    assert retry_after_seconds(err) == 7.0  # type: ignore[arg-type]
    assert retry_after_seconds(SimpleNamespace(response=SimpleNamespace(headers={"retry-after": "Wed, 21 Oct"}))) == 0.0
    assert retry_after_seconds(ValueError("x")) == 0.0 and retry_after_seconds(None) == 0.0


def test_a_missing_key_reported_as_a_500_is_fatal_and_not_retried(stub, tmp_path, monkeypatch):
    """litellm reports the OpenAI client's 'Missing credentials' as an InternalServerError (500):
    it is read as fatal, asked once, and no request leaves the machine."""
    from newsletter.errors import LLMFatalError

    stub.reset()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("NEWSLETTER_TEST_LLM_KEY", raising=False)
    cfg = make_config(tmp_path, stub, max_retries=4)
    store = Store.open(cfg.store_path)
    llm = make_llm(cfg, store, store.start_run("run", None))
    with pytest.raises(LLMFatalError) as e:
        complete(llm, MSG)
    assert "refuses every call" in str(e.value) and "Missing credentials" in str(e.value)
    assert llm.calls == 1 and stub.requests == []


def test_provider_errors_read_as_one_short_line():
    from newsletter.llm.faults import clip
    from newsletter.llm.faults import short_error as _short

    class AuthenticationError(Exception):
        status_code = 401

    e = AuthenticationError("litellm.AuthenticationError: AuthenticationError: OpenAIException - Incorrect API key "
                            "provided\nmore detail")
    assert _short(e) == "AuthenticationError 401: Incorrect API key provided"
    assert clip("one two three four", 12) == "one two…"
    assert clip("abcdefghijklmnop", 8) == "abcdefg…"  # no space to cut at: a hard cut, still marked
    assert clip("short", 10) == "short"
