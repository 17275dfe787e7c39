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
    """arXiv at the fake server; [smtp] keys replaced (with a real host, a From at a real domain)."""
    project.edit('base_url = "https://export.arxiv.org/api/query"', f'base_url = "{arxiv.base_url}"')
    if "host" in smtp:
        smtp.setdefault("from", "arXiv Daily <newsletter@example.org>")
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
    states = {ln.split()[1]: ln.split()[0] for ln in lines[:-1]}
    assert states == {"config": "ok", "subscribers": "ok", "store": "ok", "smtp": "ok", "from": "ok",
                      "llm": "skip", "arxiv": "ok", "web": "skip", "publish": "skip", "templates": "ok",
                      "mailbox": "skip", "spf": "skip", "dkim": "skip", "dmarc": "skip"}
    assert "skip: the embedded sink mails nobody" in r.out  # no DNS lookup for a setup that mails nobody
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
    assert c.state == "fail" and "connection refused by 127.0.0.1:" in c.detail and "Caused by" not in c.detail


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
    assert all(ln.startswith("skip") for ln in lines[1:-1]) and len(lines) == 15


def test_store_not_writable(project, arxiv):
    point_at(project, arxiv)
    project.edit('path = "var/newsletter.db"', 'path = "/proc/newsletter/x.db"')
    c = by_name(doctor(project.config))["store"]
    assert c.state == "fail" and "[store] path" in c.line()


# -- what `serve` and the links need: [web] --------------------------------------------------------

GOOD_SECRET = "Zq3v9s-UnsubscribeSecret-0123456789abcdef"


def test_web_public_url_without_a_secret_fails_with_how_to_make_one(project, arxiv, monkeypatch, cli):
    point_at(project, arxiv)
    project.edit('public_url = ""', 'public_url = "https://news.example.org"')
    monkeypatch.delenv("NEWSLETTER_UNSUBSCRIBE_SECRET", raising=False)
    r = cli("doctor")
    assert r.code == 1 and "1 check failed: web" in r.out
    line = next(ln for ln in r.out.splitlines() if ln.split()[1] == "web")
    assert line.startswith("fail") and "NEWSLETTER_UNSUBSCRIBE_SECRET is empty" in line
    assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in line
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", "short-1234")
    c = by_name(doctor(project.config))["web"]
    assert c.state == "fail" and "only 10 characters" in c.detail and "short-1234" not in c.line()
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", GOOD_SECRET)
    r = cli("doctor")
    line = next(ln for ln in r.out.splitlines() if ln.split()[1] == "web")
    assert r.code == 0 and line.startswith("ok") and "signed with $NEWSLETTER_UNSUBSCRIBE_SECRET" in line
    assert GOOD_SECRET not in r.out + r.err


@pytest.mark.parametrize("url,state", [
    ("http://news.example.org", "fail"), ("https://news.example.org", "ok"),
    ("http://127.0.0.1:8765", "ok"), ("http://localhost:8765", "ok"),
])
def test_web_public_url_must_be_https_unless_loopback(project, arxiv, monkeypatch, url, state):
    point_at(project, arxiv)
    project.edit('public_url = ""', f'public_url = "{url}"')
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", GOOD_SECRET)
    c = by_name(doctor(project.config))["web"]
    assert c.state == state, c.line()
    if state == "fail":
        assert "plain http" in c.detail and "TLS reverse proxy" in c.fix


def test_web_sees_a_running_serve_without_the_secret_and_a_port_taken_by_something_else(
        project, arxiv, monkeypatch, tmp_path):
    from newsletter.config import load_config
    from newsletter.store import Store
    from newsletter.web.public import WebServer

    point_at(project, arxiv)
    project.edit('public_url = ""', 'public_url = "https://news.example.org"')
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", GOOD_SECRET)
    served = load_config(project.config)
    served.web.unsubscribe_secret_env = "SECRET_THE_SERVICE_DID_NOT_GET"  # serve started without it
    store = Store.open(tmp_path / "serve.db")
    try:
        with WebServer(store, served) as server:
            project.edit("port = 8765", f"port = {server.port}")
            c = by_name(doctor(project.config))["web"]
            assert c.state == "fail" and "answers 503" in c.detail and "restart" in c.fix, c.line()
            served.web.unsubscribe_secret_env = "NEWSLETTER_UNSUBSCRIBE_SECRET"  # now it has it
            c = by_name(doctor(project.config))["web"]
            assert c.state == "ok" and "`serve` answers" in c.detail, c.line()
    finally:
        store.close()
    with socket.socket() as other:  # a port held by something that is not our server
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        project.edit(f"port = {server.port}", f"port = {other.getsockname()[1]}")
        c = by_name(doctor(project.config))["web"]
    assert c.state == "fail" and "not `newsletter serve`" in c.detail and "[web] port" in c.fix


def test_serve_warns_at_start_when_the_secret_is_missing(project, monkeypatch, capsys, tmp_path):
    from newsletter.config import load_config
    from newsletter.store import Store
    from newsletter.web.public import serve

    class Started(Exception):
        pass

    def stop(url: str) -> None:
        raise Started(url)

    cfg = load_config(project.config)
    cfg.web.public_url = "https://news.example.org"
    store = Store.open(tmp_path / "serve.db")
    try:
        for secret, warned in (("", True), (GOOD_SECRET, False)):
            monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", secret)
            capsys.readouterr()
            with pytest.raises(Started):
                serve(store, cfg, port=0, ready=stop)
            err = capsys.readouterr().err
            if warned:
                assert err.count("\n") == 1 and err.startswith("warning: [web] public_url is set but")
                assert "NEWSLETTER_UNSUBSCRIBE_SECRET is empty" in err and "token_urlsafe(32)" in err
            else:
                assert err == ""
    finally:
        store.close()


# -- the From address ------------------------------------------------------------------------------

@pytest.mark.parametrize("sender,host,state", [
    ("arXiv Daily <newsletter@localhost>", "", "ok"),              # the embedded sink keeps mail local
    ("arXiv Daily <newsletter@localhost>", "smtp.example.org", "fail"),
    ("newsletter@mybox.local", "smtp.example.org", "fail"),
    ("newsletter@[192.0.2.1]", "smtp.example.org", "fail"),
    ("newsletter@example.org", "smtp.example.org", "ok"),
    ("not an address", "", "fail"),
])
def test_from_address_must_be_able_to_send_through_a_real_relay(project, sender, host, state):
    from newsletter.config import load_config
    from newsletter.ops.doctor import check_from

    cfg = load_config(project.config)
    cfg.smtp.from_, cfg.smtp.host = sender, host
    c = check_from(cfg)
    assert c.state == state, c.line()
    if state == "fail":
        assert "[smtp] from" in c.line() and "fix:" in c.line()


def test_from_localhost_with_a_real_host_fails_the_whole_doctor(project, arxiv, cli, no_dns):
    point_at(project, arxiv)
    project.edit('host = ""', 'host = "smtp.example.org"')
    c = by_name(doctor(project.config))["from"]
    assert c.state == "fail" and "newsletter@localhost is a local address" in c.detail
    assert 'newsletter@your-domain.org' in c.fix


# -- LLM settings `run` refuses before any work -----------------------------------------------------

def test_llm_model_litellm_cannot_route_fails_before_any_call(project, arxiv, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-0123456789")
    point_at(project, arxiv)
    project.edit('model = ""', 'model = "nonsense-model-xyz"')
    c = by_name(doctor(project.config))["llm"]
    assert c.state == "fail" and "not a model litellm can route" in c.detail and "provider" in c.fix, c.line()
    assert "sk-test-key-0123456789" not in c.line()


# -- errors are whole sentences ---------------------------------------------------------------------

def whole(line: str) -> None:
    """A line that is not cut: parentheses and brackets closed, no urllib3 internals, no trailing fragment."""
    assert line.count("(") == line.count(")") and line.count("[") == line.count("]"), line
    assert "Caused by" not in line and "Max retries" not in line and "object at 0x" not in line, line


@pytest.fixture
def no_dns(monkeypatch):
    """Names other than loopback do not resolve: no test may send a DNS query off this machine."""
    import socket

    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kw):
        if host in ("127.0.0.1", "localhost", "::1", None):
            return real(host, *args, **kw)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_unresolvable_arxiv_and_smtp_hosts_read_as_whole_sentences(project, arxiv, cli, no_dns):
    point_at(project, arxiv)
    project.edit(f'base_url = "{arxiv.base_url}"', 'base_url = "http://nonexistent.invalid/api/query"')
    project.edit('host = ""', 'host = "nonexistent.invalid"')
    project.edit('from = "arXiv Daily <newsletter@localhost>"', 'from = "arXiv Daily <newsletter@example.org>"')
    r = cli("doctor")
    assert r.code == 1 and "2 checks failed: smtp, arxiv" in r.out
    for ln in r.out.splitlines():
        whole(ln)
    arx = next(ln for ln in r.out.splitlines() if ln.split()[1] == "arxiv")
    assert "cannot resolve host nonexistent.invalid" in arx and arx.endswith("(https://export.arxiv.org/api/query)")
    smtp = next(ln for ln in r.out.splitlines() if ln.split()[1] == "smtp")
    assert "cannot resolve host nonexistent.invalid" in smtp


def test_shorten_cuts_only_at_a_boundary_with_every_parenthesis_closed():
    from newsletter.ops.doctor import explain, shorten

    noisy = ("HTTPSConnectionPool(host='export.arxiv.org', port=443): Max retries exceeded with url: "
             "/api/query?search_query=cat%3Acs.CV&start=0&max_results=1 (Caused by NameResolutionError("
             "\"<urllib3.connection.HTTPSConnection object at 0x7f1c>: Failed to resolve 'export.arxiv.org' "
             "([Errno -3] Temporary failure in name resolution)\"))")
    assert explain(OSError(noisy)) == "cannot resolve host export.arxiv.org (no DNS answer: check the name and " \
                                      "the network)"
    assert explain(ConnectionRefusedError(111, "Connection refused"), "smtp.example.org:587") == \
        "connection refused by smtp.example.org:587 (nothing listens there)"
    assert explain(TimeoutError("timed out"), "h:1") == "timed out talking to h:1"
    long = "The server said no. " * 10 + "Details (" + "x " * 200 + ") end"
    out = shorten(long, 120)
    assert len(out) <= 122 and out.endswith("no. …") and out.count("(") == out.count(")")
    assert shorten("short (and whole)") == "short (and whole)"
    assert shorten("first line\nsecond line") == "first line"
    cut = shorten("word " * 100, 50)
    assert cut.endswith("word …") and len(cut) <= 52
