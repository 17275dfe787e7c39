"""`newsletter doctor` against real local servers: arXiv, SMTP (STARTTLS with our own CA, AUTH
accepted and refused, unreachable), the embedded sink, an OpenAI-compatible LLM, a bad config.
Each check is one line ok / fail / skip with the fix; exit 1 when any fails; no secret printed."""

from __future__ import annotations

import socket

import pytest

from newsletter.ops.doctor import doctor
from tests.servers.arxiv_server import ArxivServer
from tests.servers.smtp import FaultSMTPServer, make_tls_files

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def arxiv():
    with ArxivServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def point_at(project, arxiv, **smtp: object) -> None:
    project.edit('base_url = "https://export.arxiv.org/api/query"', f'base_url = "{arxiv.base_url}"')
    if smtp:
        lines = "\n".join(f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in smtp.items())
        text = project.config.read_text()
        start = text.index("[smtp]\n")
        end = text.index("\n[", start + 1)
        keep = [ln for ln in text[start:end].splitlines()[1:] if ln.split("=")[0].strip() not in smtp]
        project.config.write_text(text[:start] + "[smtp]\n" + lines.replace("'", '"') + "\n"
                                  + "\n".join(keep) + text[end:])


def by_name(checks):
    return {c.name: c for c in checks}


def test_fresh_clone_is_healthy_and_says_what_it_skipped(project, arxiv, cli):
    point_at(project, arxiv)
    r = cli("doctor")
    assert r.code == 0, r.out + r.err
    lines = r.out.splitlines()
    states = {ln.split()[1]: ln.split()[0] for ln in lines[:6]}
    assert states == {"config": "ok", "subscribers": "ok", "store": "ok", "smtp": "ok", "llm": "skip", "arxiv": "ok"}
    assert "embedded sink, ok" in r.out
    assert "skip: no model configured" in r.out
    assert "all checks passed (some skipped)" in r.out
    assert arxiv.query_requests, "arXiv was really asked"


def test_smtp_starttls_with_our_ca_and_auth_accepted(project, arxiv, tls, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", PASSWORD)
    with FaultSMTPServer(tls=tls, mode="starttls", auth=("mailer", PASSWORD)) as smtp:
        point_at(project, arxiv, host="127.0.0.1", port=smtp.port, security="starttls", username="mailer",
                 ca_file=str(tls.ca))
        c = by_name(doctor(project.config))["smtp"]
    assert c.state == "ok", c.line()
    assert "AUTH accepted for 'mailer'" in c.line()


def test_smtp_auth_refused_fails_with_the_fix_and_no_secret(project, arxiv, tls, monkeypatch, cli):
    wrong = "wrong-password-9000"
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", wrong)
    with FaultSMTPServer(tls=tls, mode="starttls", auth=("mailer", PASSWORD)) as smtp:
        point_at(project, arxiv, host="127.0.0.1", port=smtp.port, security="starttls", username="mailer",
                 ca_file=str(tls.ca))
        r = cli("doctor")
    assert r.code == 1
    line = next(ln for ln in r.out.splitlines() if ln.split()[1] == "smtp")
    assert line.startswith("fail") and "AUTH refused for 'mailer' (535)" in line
    assert "fix: check [smtp] username and the password in $NEWSLETTER_SMTP_PASSWORD" in line
    assert "1 check failed: smtp" in r.out
    assert wrong not in r.out + r.err and PASSWORD not in r.out + r.err


def test_smtp_plain_auth_refused_without_tls(project, arxiv, monkeypatch):
    """AUTH over plain text (a relay on a private network): refused credentials are a fail line."""
    from aiosmtpd.smtp import AuthResult

    from newsletter.deliver.sink import SMTPServerThread

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", PASSWORD)
    refuse = lambda *a: AuthResult(success=False, handled=False)  # noqa: E731  (handled=False: reply 535)
    with SMTPServerThread(Handler(), authenticator=refuse, auth_require_tls=False) as srv:
        point_at(project, arxiv, host="127.0.0.1", port=srv.port, security="none", username="mailer")
        c = by_name(doctor(project.config))["smtp"]
    assert c.state == "fail" and "AUTH refused" in c.detail


def test_smtp_certificate_not_trusted_without_ca_file(project, arxiv, tls, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", PASSWORD)
    with FaultSMTPServer(tls=tls, mode="starttls", auth=("mailer", PASSWORD)) as smtp:
        point_at(project, arxiv, host="127.0.0.1", port=smtp.port, security="starttls", username="mailer")
        c = by_name(doctor(project.config))["smtp"]
    assert c.state == "fail" and "TLS failed" in c.detail and "ca_file" in c.fix, c.line()


def test_smtp_unreachable_and_missing_password(project, arxiv, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    point_at(project, arxiv, host="127.0.0.1", port=port, security="none")
    c = by_name(doctor(project.config))["smtp"]
    assert c.state == "fail" and "cannot talk to the server" in c.detail and "host, port" in c.fix
    monkeypatch.delenv("NEWSLETTER_SMTP_PASSWORD", raising=False)
    project.edit('username = ""', 'username = "mailer"')
    c = by_name(doctor(project.config))["smtp"]
    assert c.state == "fail" and "$NEWSLETTER_SMTP_PASSWORD is empty" in c.detail


def test_arxiv_down_and_error_feed(project, arxiv):
    point_at(project, arxiv)
    arxiv.fail(503, times=1)
    c = by_name(doctor(project.config))["arxiv"]
    assert c.state == "fail" and "503" in c.detail and "base_url" in c.fix
    arxiv.stop()
    c = by_name(doctor(project.config))["arxiv"]
    assert c.state == "fail" and "ConnectionError" in c.detail


def test_llm_answers_a_tiny_prompt(project, arxiv, monkeypatch):
    from tests.servers.llm_server import LLMStub

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-0123456789")
    point_at(project, arxiv)
    with LLMStub() as stub:
        project.edit('model = ""', 'model = "openai/stub-model"')
        project.edit('api_base = ""', f'api_base = "{stub.api_base}"')
        c = by_name(doctor(project.config))["llm"]
        assert c.state == "ok" and "answers" in c.detail, c.line()
        assert len(stub.chat_requests()) == 1
        # a model that refuses the key: a fail line, and the key is never echoed
        from tests.servers.llm_server import Reply

        stub.script(Reply(status=401, body=b'{"error": {"message": "bad key sk-test-key-0123456789"}}'))
        c = by_name(doctor(project.config))["llm"]
        assert c.state == "fail" and "sk-test-key-0123456789" not in c.line(), c.line()


def test_llm_model_without_key_fails_with_the_fix(project, arxiv, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    point_at(project, arxiv)
    project.edit('model = ""', 'model = "gpt-4o-mini"')
    c = by_name(doctor(project.config))["llm"]
    assert c.state == "fail" and "$OPENAI_API_KEY is empty" in c.detail and "export OPENAI_API_KEY" in c.fix


def test_bad_config_fails_and_skips_the_rest(project, cli):
    project.edit("port = 587", "port = 99999")
    r = cli("doctor")
    assert r.code == 1
    lines = r.out.splitlines()
    assert lines[0].startswith("fail  config") and "[smtp].port" in lines[0]
    assert all(ln.startswith("skip") for ln in lines[1:6])


def test_store_not_writable(project, arxiv):
    point_at(project, arxiv)
    project.edit('path = "var/newsletter.db"', 'path = "/proc/newsletter/x.db"')
    c = by_name(doctor(project.config))["store"]
    assert c.state == "fail" and "[store] path" in c.line()
