"""Template overrides (`templates_dir`): a file there wins over the package's copy, for the email
and the prompts alike; a broken or missing one is one line and exit 2 before the run does anything."""

from __future__ import annotations

import email
import email.policy
import hashlib
from pathlib import Path

from newsletter.config import load_config
from newsletter.llm.prompts import prompt_hash, prompt_messages
from newsletter.models import Paper
from newsletter.pipeline import check_templates
from newsletter.templating import PACKAGE_TEMPLATES, REQUIRED, override_dir

ROOT = Path(__file__).resolve().parent.parent


def outbox_html(project) -> list[str]:
    out = []
    for p in sorted((project.dir / "var" / "demo-outbox").glob("*.eml")):
        msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        out.append(msg.get_body(preferencelist=("html",)).get_content())
    return out


def one_error_line(r) -> str:
    lines = [line for line in r.err.splitlines() if line.strip()]
    assert len(lines) == 1, r.err
    assert lines[0].startswith("error: templates: "), lines[0]
    assert "Traceback" not in r.err + r.out
    return lines[0]


def test_required_templates_are_exactly_the_package_ones():
    shipped = sorted(str(p.relative_to(PACKAGE_TEMPLATES)) for p in PACKAGE_TEMPLATES.rglob("*.j2"))
    assert shipped == sorted(REQUIRED)


def test_repository_templates_folder_holds_only_the_overrides_readme():
    assert sorted(p.name for p in (ROOT / "templates").iterdir()) == ["README.md"]


def test_missing_override_folder_uses_the_package(project):
    cfg = load_config(project.config)
    assert cfg.templates_dir == "templates" and not (project.dir / "templates").exists()
    assert override_dir(cfg) == (project.dir / "templates").resolve()
    check_templates(cfg)  # no error: only the package's templates
    assert prompt_hash("en", "score", override_dir(cfg)) == prompt_hash("en", "score")


def test_email_override_is_used(project, cli):
    override = project.dir / "my-templates"
    override.mkdir()
    src = (PACKAGE_TEMPLATES / "email.mjml.j2").read_text()
    assert "</mj-body>" in src
    marker = "Overridden-by-the-team-7f3a"
    (override / "email.mjml.j2").write_text(
        src.replace("</mj-body>", f"<mj-section><mj-column><mj-text>{marker}</mj-text></mj-column></mj-section>"
                    "</mj-body>", 1))
    project.edit('templates_dir = "templates"', 'templates_dir = "my-templates"')
    r = cli("run", "--demo")
    assert r.code == 0, r.err
    htmls = outbox_html(project)
    assert htmls and all(marker in h for h in htmls)


def test_prompt_override_is_rendered_and_hashed(project):
    cfg = load_config(project.config)
    folder = project.dir / "templates" / "prompts" / "en"
    folder.mkdir(parents=True)
    before = prompt_hash("en", "score", override_dir(cfg))
    text = "Score these for {{ profile.name }}.\n--- user ---\n{% for p in papers %}{{ p.id }} {% endfor %}\n"
    (folder / "score.j2").write_text(text)
    after = prompt_hash("en", "score", override_dir(cfg))
    assert after != before and after == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert prompt_hash("en", "score") == before  # without the config: the package's prompt
    paper = Paper("2602.00001", 1, "T", ["A"], "Abs.", ["cs.CV"], "cs.CV", None, None, "u")
    msgs = prompt_messages("en", "score", override_dir(cfg), profile=cfg.profiles[0], papers=[paper])
    assert msgs == [{"role": "system", "content": "Score these for cv."}, {"role": "user", "content": "2602.00001"}]
    # the other prompts and languages still come from the package
    assert prompt_hash("zh", "score", override_dir(cfg)) == prompt_hash("zh", "score")


def test_broken_email_override_is_one_line_exit_2(project, cli):
    (project.dir / "templates").mkdir()
    (project.dir / "templates" / "email.mjml.j2").write_text("<mjml>\n<mj-body>\n{% if title %}\n</mj-body></mjml>\n")
    r = cli("run", "--demo")
    assert r.code == 2, (r.code, r.err)
    line = one_error_line(r)
    assert str(project.dir / "templates" / "email.mjml.j2") in line and "delete it to use the package's copy" in line
    assert not list((project.dir / "var").rglob("*.eml"))


def test_broken_prompt_override_stops_before_the_run(project, cli):
    folder = project.dir / "templates" / "prompts" / "zh"
    folder.mkdir(parents=True)
    (folder / "analysis.j2").write_text("{{ paper.title ")
    r = cli("run", "--demo")
    assert r.code == 2, (r.code, r.err)
    assert "prompts/zh/analysis.j2" in one_error_line(r)


def test_template_pulling_in_a_missing_one_is_one_line(project, cli):
    (project.dir / "templates").mkdir()
    (project.dir / "templates" / "archive_edition.html.j2").write_text('{% extends "my_base.html.j2" %}\n')
    r = cli("run", "--demo")
    assert r.code == 2, (r.code, r.err)
    line = one_error_line(r)
    assert "my_base.html.j2 not found in" in line and "nor in the package" in line


def test_preview_checks_templates_first(project, cli):
    (project.dir / "templates").mkdir()
    (project.dir / "templates" / "archive_preview.html.j2").write_text("{% block %}")
    r = cli("preview", "--demo", "--no-open", "--port", "0")
    assert r.code == 2, (r.code, r.err)
    assert "archive_preview.html.j2" in one_error_line(r)


def test_doctor_reports_overrides_and_broken_ones(project):
    from newsletter.ops.doctor import check_templates as doctor_check

    cfg = load_config(project.config)
    assert doctor_check(cfg).state == "ok" and "no overrides" in doctor_check(cfg).detail
    (project.dir / "templates" / "prompts" / "en").mkdir(parents=True)
    (project.dir / "templates" / "prompts" / "en" / "score.j2").write_text("{{ ok }}")
    c = doctor_check(cfg)
    assert c.state == "ok" and "1 override(s)" in c.detail and "prompts/en/score.j2" in c.detail
    (project.dir / "templates" / "email.mjml.j2").write_text("{% for %}")
    c = doctor_check(cfg)
    assert c.state == "fail" and "email.mjml.j2:1:" in c.detail and str(project.dir / "templates") in c.fix
