"""The command line as people meet it: version, --config on either side, readable help, plurals."""

from __future__ import annotations

import re

from newsletter import __version__


def test_version(cli):
    r = cli("--version")
    assert r.code == 0 and r.out.strip() == f"newsletter {__version__}"


def test_config_before_or_after_the_command(project, cli, tmp_path):
    other = project.dir / "elsewhere.toml"
    other.write_text(project.config.read_text().replace('title = "Arxiv Computer Vision Papers"',
                                                        'title = "Elsewhere"'))
    project.config.unlink()  # only the named file exists
    for args in (("--config", str(other), "history"), ("history", "--config", str(other))):
        r = cli(*args)
        assert r.code == 0, (args, r.err)
    r = cli("history")
    assert r.code == 2 and "config file not found" in r.err


def test_help_shows_plain_metavars(cli):
    for cmd in ("run", "send", "preview", "history", "subscribers add", "subscribers import", "subscribers set"):
        r = cli(*cmd.split(), "--help")
        assert r.code == 0, cmd
        options = r.out.split("Options:", 1)[1]
        assert not re.search(r"<list\[|<(int|path|float|str)>", options), f"{cmd}: {r.out}"


def test_plurals_in_outcome_lines(project, cli):
    team = project.dir / "subscribers" / "team.toml"
    team.write_text(team.read_text().replace("max_papers = 3", "max_papers = 1"))
    project.edit("top_n = 10", "top_n = 1")
    r = cli("run", "--demo")
    assert r.code == 0, r.err
    assert "cv: 2 papers, sent" in r.out and "1 papers" not in r.out
    assert "ada@example.org (cv): 1 paper: GaussianPOP" in r.out


def test_no_subscribers_is_said_as_such(project, cli):
    for f in (project.dir / "subscribers").glob("*.toml"):
        f.write_text("")
    r = cli("run", "--demo")
    assert r.code == 0, r.err
    assert "nobody to send to" in r.out and "already has this issue" not in r.out


def test_printed_preview_command_keeps_the_config(project, cli):
    cfg = project.dir / "conf" / "my.toml"
    cfg.parent.mkdir()
    cfg.write_text(project.config.read_text().replace('subscribers_dir = "subscribers"',
                                                      f'subscribers_dir = "{project.dir / "subscribers"}"'))
    r = cli("run", "--demo", "--config", str(cfg))
    assert r.code == 0, r.err
    assert f"preview --date 2026-02-09 --demo --config {cfg}" in r.out


def test_every_command_is_in_the_readme_cli_reference():
    """Each command and `subscribers` subcommand has a row (or a place in an a|b|c row) in the README."""
    import typer

    from newsletter.cli import app
    from tests.conftest import ROOT

    text = (ROOT / "README.md").read_text()
    reference = text.split("## CLI reference", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in reference.splitlines() if ln.startswith("| `newsletter ")]
    named = {tuple(re.split(r"\s+", ln.split("`")[1].replace("\\|", "|"))[1:3]) for ln in rows}
    group = typer.main.get_command(app)
    missing = []
    for name, cmd in group.commands.items():
        subs = getattr(cmd, "commands", None)
        if subs is None:
            if not any(n[0] == name for n in named):
                missing.append(name)
            continue
        for sub in subs:
            if not any(n[0] == name and len(n) > 1 and sub in n[1].split("|") for n in named):
                missing.append(f"{name} {sub}")
    assert not missing, f"not in the README's CLI reference: {missing}"
