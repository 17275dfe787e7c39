"""`newsletter init`: a working folder from the package's starter files, never over someone's files."""

from __future__ import annotations

from pathlib import Path

from newsletter.starter import STARTER_DIR

ROOT = Path(__file__).resolve().parent.parent


def test_starter_files_are_the_repository_ones():
    """The package's copies are what a wheel user gets: they must not drift from the shipped ones."""
    assert (STARTER_DIR / "config.toml").read_text() == (ROOT / "config.toml").read_text(), (
        "newsletter/starter/config.toml differs from config.toml: copy config.toml over it")
    assert (STARTER_DIR / "subscribers.toml").read_text() == (ROOT / "subscribers" / "team.toml").read_text(), (
        "newsletter/starter/subscribers.toml differs from subscribers/team.toml: copy it over")


def test_init_then_demo_in_an_empty_folder(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSLETTER_CONFIG", raising=False)
    r = cli("init")
    assert r.code == 0, r.err
    assert (tmp_path / "config.toml").read_text() == (ROOT / "config.toml").read_text()
    assert (tmp_path / "subscribers" / "team.toml").is_file()
    assert f"wrote {tmp_path / 'config.toml'}" in r.out and "run --demo" in r.out and "cd " not in r.out
    r = cli("run", "--demo")
    assert r.code == 0, r.err
    assert len(list((tmp_path / "var" / "demo-outbox").glob("*.eml"))) == 2


def test_init_into_a_new_folder_says_where_to_go(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("init", "news/letter")
    assert r.code == 0, r.err
    assert (tmp_path / "news" / "letter" / "config.toml").is_file()
    assert "cd news/letter && newsletter run --demo" in r.out


def test_init_never_overwrites(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text("# mine\n")
    r = cli("init")
    assert r.code == 2
    lines = [line for line in r.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "config.toml already exists" in lines[0] and "--force" in lines[0], r.err
    assert (tmp_path / "config.toml").read_text() == "# mine\n" and not (tmp_path / "subscribers").exists()


def test_init_does_not_add_examples_to_a_real_list(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "subscribers").mkdir()
    (tmp_path / "subscribers" / "staff.toml").write_text("# real readers\n")
    r = cli("init")
    assert r.code == 2 and "staff.toml already exists" in r.err
    assert not (tmp_path / "config.toml").exists() and not (tmp_path / "subscribers" / "team.toml").exists()


def test_init_force_overwrites(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text("# mine\n")
    r = cli("init", "--force")
    assert r.code == 0, r.err
    assert (tmp_path / "config.toml").read_text() == (ROOT / "config.toml").read_text()


def test_init_onto_a_file_is_one_line(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").write_text("x")
    r = cli("init", "taken")
    assert r.code == 2 and "is not a folder" in r.err and "Traceback" not in r.err
