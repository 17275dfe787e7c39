"""Bad input, as a table: each case is one clear line naming the file/key, exit 2, no traceback,
and the store exactly as it was before."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from newsletter.models import Paper
from newsletter.store import Store

ROOT = Path(__file__).resolve().parent.parent


def seed_store(db: Path) -> None:
    t = datetime(2026, 2, 6, 12, tzinfo=UTC)
    s = Store.open(db)
    s.upsert_papers([Paper("2602.00001", 1, "Kept", ["A"], "Abs.", ["cs.CV"], "cs.CV", t, t, "u")])
    s.start_run("run", date(2026, 2, 9))
    s.close()


def snapshot(db: Path) -> dict[str, list]:
    if not db.exists():
        return {}
    s = Store.open(db)
    out = {t: sorted(map(repr, s.db[t].rows)) for t in s.db.table_names()}
    s.close()
    return out


def write(p: Path, text: str) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


# (id, how to break the project, CLI args, text the one-line error must contain)
CASES = [
    ("config-missing", lambda p: p.config.unlink(), ["status"], "config.toml: config file not found"),
    ("config-not-toml", lambda p: p.append("[smtp\nport = 1"), ["status"], "not valid TOML"),
    ("unknown-top-key", lambda p: p.append("colour = 'blue'"), ["status"], "colour: unknown key"),
    ("unknown-section-key", lambda p: p.edit("[smtp]\n", "[smtp]\nhostname = 'x'\n"), ["status"], "[smtp].hostname"),
    ("port-not-number", lambda p: p.edit("port = 587", "port = 'abc'"), ["status"], "[smtp].port"),
    ("port-out-of-range", lambda p: p.edit("port = 587", "port = 70000"), ["status"], "[smtp].port"),
    ("bad-security", lambda p: p.edit('security = "starttls"', 'security = "tls"'), ["status"], "[smtp].security"),
    ("secret-in-file", lambda p: p.edit("[smtp]\n", "[smtp]\npassword = 'hunter2'\n"), ["status"],
     "secrets never go in files"),
    ("no-profiles", lambda p: p.config.write_text(p.config.read_text().split("[[profiles]]")[0]), ["status"],
     "profiles: required key is missing"),
    ("profile-no-categories", lambda p: p.edit('categories = ["cs.CV"]\n', ""), ["status"],
     "[[profiles]] #1 (cv).categories"),
    ("unknown-category", lambda p: p.edit('categories = ["cs.CV"]', 'categories = ["cs.VISION"]'), ["status"],
     "unknown arXiv category 'cs.VISION'"),
    ("bad-language", lambda p: p.edit('language = "zh"', 'language = "fr"'), ["status"], "language"),
    ("top-n-zero", lambda p: p.edit("top_n = 10", "top_n = 0"), ["status"], "top_n"),
    ("duplicate-profile", lambda p: p.append('[[profiles]]\nname = "cv"\ncategories = ["cs.LG"]'), ["status"],
     "profile name 'cv' is used twice"),
    ("bad-cron", lambda p: p.edit('cron = "30 9 * * mon-fri"', 'cron = "61 9 * *"'), ["status"], "bad cron expression"),
    ("bad-timezone", lambda p: p.edit('timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"'), ["status"],
     "unknown timezone 'Mars/Olympus'"),
    ("public-url-scheme", lambda p: p.edit('public_url = ""', 'public_url = "ftp://x.org"'), ["status"],
     "[web].public_url"),
    # another address is allowed when set on purpose (0.0.0.0 in a container); a name is not an address
    ("web-host-not-an-address", lambda p: p.edit('host = "127.0.0.1"', "host = 'news.example.org'"), ["status"],
     "[web].host: host 'news.example.org' must be an IP address"),
    ("web-trusted-proxy-not-an-address", lambda p: p.edit('trusted_proxies = ["127.0.0.1", "::1"]',
     'trusted_proxies = ["my-proxy"]'), ["status"], "[web].trusted_proxies"),
    ("subscribers-not-toml", lambda p: write(p.dir / "subscribers/bad.toml", "[[subscriber]\nemail="), ["run"],
     "bad.toml: not valid TOML"),
    ("subscriber-invalid-email", lambda p: write(p.dir / "subscribers/x.toml",
     '[[subscriber]]\nemail = "not-an-address"\nprofiles = ["cv"]\n'), ["run"], "is not a valid address"),
    ("subscriber-duplicate", lambda p: write(p.dir / "subscribers/x.toml",
     '[[subscriber]]\nemail = "ADA@example.org"\nprofiles = ["cv"]\n'), ["run"], "is listed twice"),
    ("subscriber-unknown-profile", lambda p: write(p.dir / "subscribers/x.toml",
     '[[subscriber]]\nemail = "bob@example.org"\nprofiles = ["nlp"]\n'), ["run"], "unknown profile 'nlp'"),
    ("subscriber-missing-email", lambda p: write(p.dir / "subscribers/x.toml",
     '[[subscriber]]\nname = "Bob"\nprofiles = ["cv"]\n'), ["send"], "email: required key is missing"),
    ("subscriber-header-injection", lambda p: write(p.dir / "subscribers/x.toml",
     '[[subscriber]]\nemail = "bob@example.org\\r\\nBcc: all@example.org"\nprofiles = ["cv"]\n'), ["run"],
     "not a valid address"),
    ("subscribers-folder-missing", lambda p: p.edit('subscribers_dir = "subscribers"', 'subscribers_dir = "nope"'),
     ["run"], "subscribers folder not found"),
    ("store-path-unwritable", lambda p: (write(p.dir / "blocker", "x"),
     p.edit('path = "var/newsletter.db"', 'path = "blocker/n.db"')), ["status"], "cannot create the folder"),
    ("store-corrupt", lambda p: p.db.write_bytes(b"garbage" * 1000), ["status"], "not a usable SQLite database"),
    ("date-in-future", lambda p: None, ["run", "--date", "2999-01-01"], "is in the future"),
    ("date-malformed", lambda p: None, ["run", "--date", "09/02/2026"], "not a date; use YYYY-MM-DD"),
    ("until-unknown", lambda p: None, ["run", "--until", "print"], "--until 'print'"),
    ("profile-unknown", lambda p: None, ["run", "--profile", "nlp"], "unknown profile 'nlp'"),
    ("archive-url-scheme", lambda p: p.edit('archive_url = ""', 'archive_url = "pages.example.org"'), ["status"],
     "[web].archive_url"),
    ("publish-outdir-is-a-file", lambda p: write(p.dir / "site", "x"), ["publish", "site"], "is a file, not a folder"),
    ("publish-outdir-unwritable", lambda p: None, ["publish", "/proc/newsletter-site"], "cannot write in /proc"),
    ("publish-outdir-parent-missing", lambda p: None, ["publish", "no/such/site"], "does not exist; create it first"),
    ("publish-outdir-not-ours", lambda p: None, ["publish", "subscribers"], "was not written by `newsletter publish`"),
    ("publish-unknown-profile", lambda p: None, ["publish", "site", "--profile", "nlp"], "unknown profile 'nlp'"),
    ("publish-no-outdir", lambda p: None, ["publish"], "set [web] publish_dir"),
    ("config-env-missing", lambda p: os.environ.__setitem__("NEWSLETTER_CONFIG", str(p.dir / "other.toml")),
     ["status"], "other.toml: config file not found"),
]


@pytest.mark.parametrize("case_id,breaker,args,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input(project, cli, monkeypatch, case_id, breaker, args, expected):
    monkeypatch.setenv("NEWSLETTER_CONFIG", str(project.config))
    seed_store(project.db)
    corrupt = case_id == "store-corrupt"
    before = None if corrupt else snapshot(project.db)
    breaker(project)
    corrupted = project.db.read_bytes() if corrupt else None
    r = cli(*args)
    assert r.code == 2, (r.code, r.err)
    lines = [line for line in r.err.splitlines() if line.strip()]
    assert len(lines) == 1, r.err
    assert lines[0].startswith("error: "), lines[0]
    assert expected in lines[0], lines[0]
    assert "Traceback" not in r.err + r.out
    if corrupt:
        assert project.db.read_bytes() == corrupted
    else:
        assert snapshot(project.db) == before


def test_bad_input_through_the_real_command(project):
    """The installed console script, not just main(): one line, exit 2, no traceback."""
    project.edit("port = 587", "port = 'abc'")
    exe = Path(sys.executable).with_name("newsletter")
    r = subprocess.run([str(exe), "status"], capture_output=True, text=True, cwd=project.dir, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "[smtp].port" in r.stderr and "Traceback" not in r.stderr


def test_help_does_not_import_heavy_libraries():
    code = ("import sys, newsletter.cli; heavy = [m for m in ('litellm', 'openai', 'pypdf', 'mjml', 'premailer') "
            "if m in sys.modules]; print(heavy)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr
