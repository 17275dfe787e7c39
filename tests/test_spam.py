"""Spam filters: SpamAssassin (Debian's, as a mail server runs it) with network tests off scores
every edition we mail at 1.0 or less: the demo issue and an LLM edition, in zh and en.

`make test` installs SpamAssassin (the `spamassassin` target); without it this test fails.
Only local rules run: `-L`, plus `dns_available no` / `skip_rbl_checks 1` in our own prefs, and a
site config of the package's plugin loaders only (no admin's local.cf), so nothing asks DNS and no
system state changes the score. One message per edition: every recipient gets the same content.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from newsletter.fetch.sample import SAMPLE_DAY
from tests.servers.arxiv_fake import serve_sample

MAX_SCORE = 1.0
KEY_ENV = "NEWSLETTER_TEST_LLM_KEY"
SITE_CONFIG = Path("/etc/spamassassin")
PREFS = """\
dns_available no
skip_rbl_checks 1
use_razor2 0
use_pyzor 0
use_bayes 0
bayes_auto_learn 0
"""
STATUS = re.compile(r"^X-Spam-Status: (?:Yes|No), score=(-?\d+(?:\.\d+)?)", re.M)
RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*)$")


def spamassassin(eml: Path, work: Path) -> tuple[float, list[str]]:
    """SpamAssassin's score of one message, and the rules that fired ("0.7 RULE description")."""
    exe = shutil.which("spamassassin")
    assert exe, "spamassassin is not installed: run `make spamassassin` (Debian package spamassassin)"
    site = work / "sa-site"
    site.mkdir(exist_ok=True)
    for pre in SITE_CONFIG.glob("*.pre"):  # the plugins the package loads; not local.cf
        shutil.copy(pre, site / pre.name)
    prefs = work / "sa-prefs.cf"
    prefs.write_text(PREFS)
    home = work / "sa-home"
    home.mkdir(exist_ok=True)
    p = subprocess.run(
        [exe, "-L", "-t", "--siteconfigpath", str(site), "-p", str(prefs)],
        input=eml.read_bytes(), capture_output=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"},
    )
    out = p.stdout.decode("utf-8", "replace")
    m = STATUS.search(out)
    assert p.returncode == 0 and m, f"spamassassin failed ({p.returncode}):\n{p.stderr.decode()[-2000:]}\n{out[-2000:]}"
    report = out.split("Content analysis details:", 1)[-1]
    rules, last = [], None
    for line in report.splitlines():
        r = RULE.match(line)
        if r:
            last = f"{r[1]} {r[2]} {r[3].strip()}"
            rules.append(last)
        elif last and line.startswith(" " * 20) and line.strip():
            rules[-1] += " " + line.strip()  # a wrapped description
    return float(m[1]), rules


def one_message(outbox: Path) -> Path:
    emls = sorted(outbox.glob("*.eml"))
    assert emls, f"no message in {outbox}"
    return emls[0]


def demo_edition(project, cli, monkeypatch) -> Path:
    r = cli("run", "--demo")
    assert r.code == 0, r.err
    return one_message(project.dir / "var" / "demo-outbox")


def llm_edition(project, cli, monkeypatch, stub) -> Path:
    """The sample day from the arXiv stand-in, analysed by the LLM stub, into the embedded sink."""
    stub.reset()
    monkeypatch.setenv(KEY_ENV, "sk-test")
    project.edit('model = ""', 'model = "openai/stub-model"')
    project.edit('api_base = ""', f'api_base = "{stub.api_base}"')
    project.edit('api_key_env = "OPENAI_API_KEY"', f'api_key_env = "{KEY_ENV}"')
    project.edit("min_score = 4 ", "min_score = 2 ")
    with serve_sample() as base_url:
        project.edit('base_url = "https://export.arxiv.org/api/query"', f'base_url = "{base_url}"')
        project.edit("delay_seconds = 3.0", "delay_seconds = 0")
        r = cli("run", "--date", SAMPLE_DAY.isoformat(), "--until", "deliver")
    assert r.code == 0, r.err + r.out
    assert stub.requests, "the LLM stub was never asked"
    return one_message(project.dir / "var" / "outbox")


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("edition", ["demo", "llm"])
def test_spamassassin_scores_an_edition_at_most_1(edition, lang, project, cli, monkeypatch, request, tmp_path):
    if lang != "zh":
        project.edit('language = "zh"', f'language = "{lang}"')
    if edition == "demo":
        eml = demo_edition(project, cli, monkeypatch)
    else:
        eml = llm_edition(project, cli, monkeypatch, request.getfixturevalue("stub"))
    score, rules = spamassassin(eml, tmp_path)
    print(f"spamassassin: {edition} edition ({lang}) scores {score}: {', '.join(r.split()[1] for r in rules)}")
    assert score <= MAX_SCORE, f"{edition} edition ({lang}) scores {score} > {MAX_SCORE}:\n" + "\n".join(rules)
    # the preheader's white text (mj-preview) was scored as hidden text: newsletter/render/email.py
    assert not [r for r in rules if "HTML_FONT_LOW_CONTRAST" in r], "\n".join(rules)
