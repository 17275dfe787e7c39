"""Fatal LLM errors end to end: `newsletter run` against the local arXiv stand-in and the LLM stub.

A model without its key is refused before anything is fetched (exit 2, one line). A key or model
the provider refuses (401 invalid_api_key, 404 model_not_found) is asked once per model, never
retried, and stops the run (exit 1) with nothing mailed, unless `[llm] on_failure = "extractive"`
says to mail without the LLM: then the issue says so at the top and `status` shows it degraded.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import sqlite3
from datetime import date

import pytest

from newsletter.config import load_config
from newsletter.store import Store
from tests.servers.arxiv_fake import ArxivServer
from tests.servers.llm_server import INVALID_KEY, MODEL_NOT_FOUND, Reply

DAY = date(2026, 2, 9)
KEY_ENV = "NEWSLETTER_TEST_LLM_KEY"
KEY = "sk-test-fatal-7e1f93"


@pytest.fixture
def arxiv(project):
    """The sample day on the local arXiv stand-in, wired into the project's config."""
    with ArxivServer() as server:
        project.edit('base_url = "https://export.arxiv.org/api/query"', f'base_url = "{server.base_url}"')
        project.edit("delay_seconds = 3.0", "delay_seconds = 0.05")
        yield server


def use_stub(project, stub, monkeypatch, on_failure: str = "stop", fallback: bool = True) -> None:
    """[llm] at the stub, a key in the environment, the given on_failure; the stub starts clean.
    Batches of 3 papers: the sample day's 10 papers make 4 scoring calls at once."""
    stub.reset()
    monkeypatch.setenv(KEY_ENV, KEY)
    project.edit('model = ""', 'model = "openai/stub-model"')
    if fallback:
        project.edit("fallback_models = []", 'fallback_models = ["openai/stub-backup"]')
    project.edit('api_base = ""', f'api_base = "{stub.api_base}"')
    project.edit('api_key_env = "OPENAI_API_KEY"', f'api_key_env = "{KEY_ENV}"')
    project.edit("max_retries = 4 ", "max_retries = 3 ")
    project.edit('on_failure = "stop"', f'on_failure = "{on_failure}"')
    project.edit("batch_size = 10", "batch_size = 3")


def outbox(project) -> list:
    box = project.dir / "var" / "outbox"
    return sorted(box.glob("*.eml")) if box.is_dir() else []


def last_run(project) -> dict:
    with sqlite3.connect(project.db) as c:
        c.row_factory = sqlite3.Row
        row = c.execute("select * from runs order by id desc limit 1").fetchone()
    return dict(row)


WORD_CUT = re.compile(r"\w$")


def assert_no_line_cut_mid_word(text: str) -> None:
    """A shortened message ends with '…' after a whole word, never inside one."""
    for line in text.splitlines():
        if "…" in line:
            before = line.split("…")[0]
            assert not before or not WORD_CUT.search(before) or before.endswith((" ", ".", ",", ";", ")")), line


def test_a_model_without_its_key_is_refused_before_fetching(project, cli, arxiv, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    project.edit('model = ""', 'model = "gpt-4o-mini"')
    r = cli("run", "--date", DAY.isoformat())
    assert r.code == 2, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert "OPENAI_API_KEY" in lines[0] and "gpt-4o-mini" in lines[0]
    assert arxiv.requests == []  # nothing fetched
    assert outbox(project) == []


def test_an_unknown_model_name_is_refused_before_fetching(project, cli, arxiv, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unused-but-present")
    project.edit('model = ""', 'model = "nosuchprovider/some-model"')
    r = cli("run", "--date", DAY.isoformat())
    assert r.code == 2, r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert "nosuchprovider/some-model" in r.err and "sk-unused" not in r.err
    assert arxiv.requests == []


@pytest.mark.parametrize("refusal, why", [(INVALID_KEY, "Incorrect API key provided"),
                                          (MODEL_NOT_FOUND, "does not exist")])
def test_a_refused_key_or_model_stops_the_run_and_mails_nothing(project, cli, arxiv, stub, monkeypatch,
                                                                refusal, why):
    use_stub(project, stub, monkeypatch)
    stub.when(lambda b: True, refusal)
    r = cli("run", "--date", DAY.isoformat())
    assert r.code == 1, r.out + r.err
    errors = [line for line in r.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, r.err
    assert "refuses every call" in errors[0] and why in errors[0]
    assert f"${KEY_ENV}" in errors[0] and 'on_failure = "extractive"' in errors[0]  # how to fix it
    assert KEY not in r.err + r.out
    # asked once per model: a refusal is not retried, and no other batch or paper asks again
    assert [q.body["model"] for q in stub.requests] == ["stub-model", "stub-backup"]
    assert outbox(project) == []
    run = last_run(project)
    assert run["status"] == "failed" and "refuses every call" in run["error"]
    assert [line for line in r.err.splitlines() if "refuses" in line] == errors  # said once, not per call
    assert "WARNING" not in r.err and "ERROR" not in r.err and "Traceback" not in r.err
    assert_no_line_cut_mid_word(r.err)
    assert "scored" not in r.err  # scoring did not succeed, so nothing claims it did


def test_on_failure_extractive_mails_the_issue_saying_the_llm_was_unavailable(project, cli, arxiv, stub,
                                                                            monkeypatch):
    use_stub(project, stub, monkeypatch, on_failure="extractive")
    stub.when(lambda b: b.get("model") == "stub-backup", MODEL_NOT_FOUND)
    stub.when(lambda b: True, INVALID_KEY)
    r = cli("run", "--date", DAY.isoformat())
    assert r.code == 0, r.out + r.err
    said = [line for line in r.out.splitlines() if line.startswith("cv:")]
    assert len(said) == 1 and "without the LLM: the LLM refuses every call" in said[0], r.out
    assert said[0].endswith(("without it", "…")), said[0]  # a long reason is shortened at a word
    assert len(stub.requests) == 2  # one per model, then the run goes on without the LLM
    assert len(outbox(project)) == 2  # both subscribers of cv
    cfg = load_config(project.config)
    store = Store.open(cfg.store_path)
    try:
        ed = store.get_edition(DAY, "cv")
    finally:
        store.close()
    notice = "本期未使用 LLM（模型不可用），分析为抽取式摘要。"
    assert ed.status == "sent"
    assert ed.summary.startswith(f"> **{notice}**")
    assert ed.markdown.split("## Executive Summary", 1)[1].lstrip().startswith(f"> **{notice}**")
    assert {e.analysis.kind for e in ed.entries} == {"extractive"}
    # the mail says so at the top of both parts, before the papers
    msg = email.message_from_bytes(outbox(project)[0].read_bytes(), policy=email.policy.default)
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert notice in html and html.index(notice) < html.index("CineScene")
    assert notice in text.replace("\n", "") and text.index("本期未使用") < text.index("CineScene")
    counts = json.loads(last_run(project)["counts"])
    assert "refuses every call" in counts["cv"]["degraded"]
    s = cli("status")
    assert s.code == 0, s.err
    assert re.search(r"cv: \d+ papers, sent.*degraded", s.out), s.out
    assert "without the LLM" in s.out


def test_a_500_that_is_not_about_the_key_is_still_retried(project, cli, arxiv, stub, monkeypatch):
    use_stub(project, stub, monkeypatch, fallback=False)
    project.edit("max_retries = 3 ", "max_retries = 1 ")
    stub.script(Reply(status=500))  # the first call fails once, then everything answers
    r = cli("run", "--date", DAY.isoformat(), "--until", "select")
    assert r.code == 0, r.err
    assert [q.status for q in stub.requests[:2]] == [500, 200]


def test_failed_scoring_is_not_reported_as_scored(project, cli, arxiv, stub, monkeypatch):
    use_stub(project, stub, monkeypatch, fallback=False)
    project.edit("max_retries = 3 ", "max_retries = 0 ")
    stub.when(lambda b: True, Reply(status=500))  # an outage, not a refusal: the papers keep keyword scores
    r = cli("run", "--date", DAY.isoformat(), "--until", "select")
    assert r.code == 0, r.err
    assert "scored 10 papers" not in r.err and not re.search(r"scored \d+/\d+ batches", r.err), r.err
    assert "the LLM scored 0 of 10 papers (4 of 4 batches failed); the others keep their keyword score" in r.err
    assert_no_line_cut_mid_word(r.err)


def test_successful_scoring_says_so(project, cli, arxiv, stub, monkeypatch):
    use_stub(project, stub, monkeypatch, fallback=False)
    r = cli("run", "--date", DAY.isoformat(), "--until", "select")
    assert r.code == 0, r.err
    assert "select[cv]: scored 10 papers in 4 batches" in r.err
