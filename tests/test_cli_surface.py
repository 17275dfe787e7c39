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
    for cmd in ("run", "send", "preview", "history", "subscribers add", "subscribers import"):
        r = cli(*cmd.split(), "--help")
        assert r.code == 0, cmd
        options = r.out.split("Options:", 1)[1]
        assert not re.search(r"<list\[|<(int|path|float|str)>", options), f"{cmd}: {r.out}"


def test_plurals_in_outcome_lines(project, cli):
    project.edit("top_n = 10", "top_n = 1")
    r = cli("run", "--demo")
    assert r.code == 0, r.err
    assert "cv: 1 paper, sent" in r.out and "1 papers" not in r.out


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
