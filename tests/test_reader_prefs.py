"""Reader preferences: `subscribers set` changes only the reader's own keys (every other byte of the
files kept), each bad value is one line with exit 2 and nothing touched, and `subscribers show`
tells what we know about a reader: entry, preferences, suppressions, votes, issues."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from newsletter.config import load_config
from newsletter.models import Edition, Paper
from newsletter.preferences import PREFERENCE_KEYS, preference_changes, reader_report, set_preferences
from newsletter.roster import load_subscribers
from newsletter.store import Store
from newsletter.subscriber_files import SubscriberError
from tests.conftest import ROOT
from tests.test_bad_input import seed_store, snapshot

HAND_WRITTEN = """\
# Our readers. Hand-written: the CLI must keep every byte of what it does not change.

[[subscriber]]
email = "ada@example.org"   # the first programmer
name = "Ada Lovelace"
profiles = [
  "cv",  # vision
]
interests = "old words"  # keep this comment

# Alan joined in 2025
[[subscriber]]
email = "alan@example.org"
name = "Alan Turing"
profiles = ["cv"]
"""
OTHER = '# a second file\n[[subscriber]]\nemail = "grace@example.org"\nprofiles = ["cv"]  # just cv\n'


@pytest.fixture
def files(project):
    """team.toml hand-written with comments everywhere, plus a second file: (team, other) paths."""
    team, other = project.dir / "subscribers" / "team.toml", project.dir / "subscribers" / "other.toml"
    team.write_text(HAND_WRITTEN)
    other.write_text(OTHER)
    return team, other


def readers(project) -> dict:
    return {s.email: s for s in load_subscribers(load_config(project.config))}


def test_set_keeps_comments_and_other_entries_byte_identical(project, files, cli):
    team, other = files
    r = cli("subscribers", "set", "ADA@example.org", "--interests", "3D Gaussian splatting",
            "--keywords", "gaussian splatting, NeRF", "--max-papers", "3")
    assert r.code == 0, r.err
    assert r.out.strip() == "updated ada@example.org in team.toml: interests, keywords, max_papers"
    assert other.read_text() == OTHER
    assert team.read_text() == HAND_WRITTEN.replace(
        'interests = "old words"  # keep this comment\n',
        'interests = "3D Gaussian splatting"  # keep this comment\n'
        'keywords = ["gaussian splatting", "NeRF"]\nmax_papers = 3\n')  # above the blank line and Alan's comment
    # a reader in the other file: only that file changes
    assert cli("subscribers", "set", "grace@example.org", "--frequency", "weekly").code == 0
    assert other.read_text() == OTHER + 'frequency = "weekly"\n'
    assert "old words" not in team.read_text() and "Alan joined" in team.read_text()


ROUND_TRIPS = [
    ("interests", "  robot   learning\nfrom videos ", "robot learning from videos", ""),
    ("keywords", "world model, Gaussian Splatting , world MODEL", ["world model", "Gaussian Splatting"], []),
    ("authors", "Lovelace, Ada; Alan Turing", ["Lovelace, Ada", "Alan Turing"], []),
    ("frequency", "Weekly", "weekly", "daily"),
    ("max_papers", "7", 7, None),
]


@pytest.mark.parametrize("key,given,value,default", ROUND_TRIPS, ids=[c[0] for c in ROUND_TRIPS])
@pytest.mark.parametrize("how", ["empty", "clear"])
def test_set_and_clear_round_trip_through_load_subscribers(project, files, cli, key, given, value, default, how):
    team, _ = files
    option = "--" + key.replace("_", "-")
    start = team.read_text()
    r = cli("subscribers", "set", "alan@example.org", option, given)
    assert r.code == 0, r.err
    assert getattr(readers(project)["alan@example.org"], key) == value
    again = cli("subscribers", "set", "alan@example.org", option, given)
    assert again.code == 0 and "unchanged" in again.out
    r = cli("subscribers", "set", "alan@example.org", *([option, ""] if how == "empty" else ["--clear", key]))
    assert r.code == 0 and f"{key} (cleared)" in r.out, r.out + r.err
    assert getattr(readers(project)["alan@example.org"], key) == default
    assert team.read_text() == start  # set then cleared: the file is what it was, byte for byte


def test_clear_all_and_the_library_directly(project, files):
    cfg = load_config(project.config)
    edit = set_preferences(cfg, "ada@example.org", preference_changes(
        {"authors": "Ada Lovelace", "frequency": "weekly", "max_papers": "100"}))
    assert edit.changed == ["authors", "frequency", "max_papers"] and edit.file.name == "team.toml"
    assert edit.subscriber.authors == ["Ada Lovelace"] and edit.subscriber.max_papers == 100
    edit = set_preferences(cfg, "ada@example.org", preference_changes({}, clear=["all"]))
    assert edit.changed == ["interests", "authors", "frequency", "max_papers"]
    ada = readers(project)["ada@example.org"]
    assert (ada.interests, ada.authors, ada.frequency, ada.max_papers, ada.personal) == ("", [], "daily", None, False)
    assert "# keep this comment" not in files[0].read_text()  # the comment went with its key
    assert "# the first programmer" in files[0].read_text()


def test_add_takes_the_same_preferences(project, files, cli):
    r = cli("subscribers", "add", "kate@example.org", "--name", "Kate", "--interests", "compilers",
            "--authors", "Frances Allen", "--frequency", "weekly", "--file", "other")
    assert r.code == 0, r.err
    kate = readers(project)["kate@example.org"]
    assert (kate.interests, kate.authors, kate.frequency, kate.source) == (
        "compilers", ["Frances Allen"], "weekly", str(files[1]))
    assert files[1].read_text().startswith(OTHER)
    before = files[1].read_text()
    r = cli("subscribers", "add", "lin@example.org", "--max-papers", "0")
    assert r.code == 2 and r.err.count("\n") == 1 and "--max-papers '0'" in r.err
    assert files[1].read_text() == before and "lin@" not in files[0].read_text()


def test_list_shows_frequency_and_marks_readers_with_preferences(project, files, cli):
    cli("subscribers", "set", "alan@example.org", "--frequency", "weekly")
    r = cli("subscribers", "list")
    assert r.code == 0, r.err
    cols = {ln.split("\t")[0]: ln.split("\t") for ln in r.out.splitlines()}
    assert cols["ada@example.org"][3] == "daily*"  # interests
    assert cols["alan@example.org"][3] == "weekly"
    assert cols["grace@example.org"][3] == "daily"
    assert "3 subscribers, 0 with a suppression, 1 weekly, 1 with preferences" in r.err


def write_entry_key(project, line: str) -> None:
    """Add a hand-typed line to Ada's entry in the shipped team.toml."""
    team = project.dir / "subscribers" / "team.toml"
    text = team.read_text()
    assert 'name = "Ada Lovelace"\n' in text
    team.write_text(text.replace('name = "Ada Lovelace"\n', f'name = "Ada Lovelace"\n{line}\n', 1))


def replace_alan(project, line: str) -> None:
    team = project.dir / "subscribers" / "team.toml"
    team.write_text(team.read_text().replace('name = "Alan Turing"\n', f'name = "Alan Turing"\n{line}\n', 1))


SET_ADA = ["subscribers", "set", "ada@example.org"]
# (id, how to break the files first, CLI args, text the one error line must contain)
BAD = [
    ("unknown-reader", None, ["subscribers", "set", "nobody@example.org", "--frequency", "weekly"],
     "'nobody@example.org' is not in"),
    ("not-an-address", None, ["subscribers", "set", "not an address", "--frequency", "weekly"], "is not in"),
    ("bad-frequency", None, [*SET_ADA, "--frequency", "monthly"], "--frequency 'monthly': Input should be 'daily' or"),
    ("max-papers-zero", None, [*SET_ADA, "--max-papers", "0"], "--max-papers '0': Input should be greater than"),
    ("max-papers-1000", None, [*SET_ADA, "--max-papers", "1000"], "--max-papers '1000': Input should be less than"),
    ("max-papers-word", None, [*SET_ADA, "--max-papers", "x"], "--max-papers 'x': Input should be a valid integer"),
    ("max-papers-fraction", None, [*SET_ADA, "--max-papers", "2.5"], "--max-papers '2.5'"),
    ("empty-keyword", None, [*SET_ADA, "--keywords", "splatting, , nerf"],
     "--keywords 'splatting, , nerf': keyword 2 is empty"),
    ("interests-3000", None, [*SET_ADA, "--interests", "x" * 3000], "(3000 characters): String should have at most 2000"),
    ("one-letter-author", None, [*SET_ADA, "--authors", "Ada Lovelace; X"], "--authors 'Ada Lovelace; X': author 2 'X'"),
    ("nothing-to-set", None, SET_ADA, "nothing to change"),
    ("clear-unknown-key", None, [*SET_ADA, "--clear", "intrests"], "--clear 'intrests': not a preference"),
    ("value-and-clear", None, [*SET_ADA, "--interests", "x", "--clear", "interests"], "give one of them"),
    ("typo-in-file", lambda p: write_entry_key(p, 'intrests = "robots"'), [*SET_ADA, "--max-papers", "5"],
     "(ada@example.org): intrests: unknown key (allowed: email, name"),
    ("keywords-string-in-file", lambda p: write_entry_key(p, 'keywords = "gaussian splatting, nerf"'),
     [*SET_ADA, "--frequency", "weekly"],
     'keywords: must be a list, not a string: write keywords = ["gaussian splatting", "nerf"]'),
    ("typo-in-another-entry", lambda p: replace_alan(p, 'max_paper = 3'), [*SET_ADA, "--frequency", "weekly"],
     "[[subscriber]] #2: max_paper: unknown key"),
    ("show-unknown-reader", None, ["subscribers", "show", "nobody@example.org"], "'nobody@example.org' is not in"),
]


@pytest.mark.parametrize("case_id,breaker,args,expected", BAD, ids=[c[0] for c in BAD])
def test_bad_preferences_are_one_line_and_change_nothing(project, cli, case_id, breaker, args, expected):
    seed_store(project.db)
    if breaker:
        breaker(project)
    folder = project.dir / "subscribers"
    files_before = {f.name: f.read_bytes() for f in folder.iterdir()}
    store_before = snapshot(project.db)
    r = cli(*args)
    assert r.code == 2, (r.code, r.out, r.err)
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in r.out + r.err
    assert {f.name: f.read_bytes() for f in folder.iterdir()} == files_before  # no temporary file left either
    assert snapshot(project.db) == store_before


def test_library_refusals_are_subscriber_errors(project, files):
    cfg = load_config(project.config)
    with pytest.raises(SubscriberError, match="'bob@example.org' is not in"):
        set_preferences(cfg, "bob@example.org", {"frequency": "weekly"})
    with pytest.raises(SubscriberError, match="'colour' is not a preference"):
        set_preferences(cfg, "ada@example.org", {"colour": "blue"})
    assert files[0].read_text() == HAND_WRITTEN


def seed_reader_history(db: Path) -> None:
    """A paper picked for Ada in one edition, delivered; her +1 on it and a -1 on another paper."""
    t = datetime(2026, 2, 6, 12, tzinfo=UTC)
    store = Store.open(db)
    try:
        store.upsert_papers([
            Paper("2602.06830", 1, "GaussianPOP: Compact 3D Gaussian Splatting", ["A"], "Abs.", ["cs.CV"], "cs.CV",
                  t, t, "u"),
            Paper("2602.06914", 1, "Seeing Beyond Redundancy", ["B"], "Abs.", ["cs.CV"], "cs.CV", t, t, "u"),
        ])
        eid = store.save_selection(Edition(date(2026, 2, 9), "cv", "zh", "Arxiv Computer Vision Papers"),
                                   ["2602.06830", "2602.06914"])
        store.save_picks(eid, {"Ada@Example.org": ["2602.06830"]})
        store.create_deliveries(eid, [("ada@example.org", "Ada Lovelace", "<m1@example.org>")])
        store.set_delivery(eid, "ada@example.org", "sent")
        store.put_vote("ada@example.org", "cv", "2602.06830", 1)
        store.put_vote("ada@example.org", "cv", "2602.06914", -1)
        store.suppress("ada@example.org", "unsubscribed", "test", list_name="cv")
    finally:
        store.close()


def test_show_prints_preferences_votes_issues_and_suppressions(project, cli):
    cli("subscribers", "set", "ada@example.org", "--keywords", "gaussian splatting", "--authors", "Bernhard Kerbl",
        "--frequency", "weekly")
    seed_reader_history(project.db)
    r = cli("subscribers", "show", "ADA@example.org")
    assert r.code == 0, r.err
    out = r.out
    assert out.startswith("Ada Lovelace <ada@example.org>\n")
    for text in ("subscribers/team.toml", "cv (Arxiv Computer Vision Papers, zh)", "zh (from the lists)",
                 "suppressed: unsubscribed from cv", "weekly (one issue on Fridays", "3D Gaussian splatting",
                 "gaussian splatting", "Bernhard Kerbl", "Feedback: 2 votes", "+1 more like this",
                 "-1 less like this", "GaussianPOP: Compact 3D Gaussian Splatting", "Seeing Beyond Redundancy",
                 "Last issues (1, newest first)"):
        assert text in out, (text, out)
    vote = next(ln for ln in out.splitlines() if "+1 more like this" in ln)
    assert "2602.06830" in vote and "GaussianPOP" in vote
    issue = next(ln for ln in out.splitlines() if ln.startswith("2026-02-09"))
    assert issue.split() == ["2026-02-09", "cv", "daily", "1", "sent"]
    assert not any(ln != ln.rstrip() for ln in out.splitlines())  # no padding at line ends in a pipe
    assert "max papers  3" in out  # the shipped team.toml gives Ada 3


def test_show_demo_reads_the_demo_store(project, cli):
    seed_reader_history(project.dir / "var" / "demo.db")
    r = cli("subscribers", "show", "ada@example.org")
    assert r.code == 0 and "Feedback: none yet" in r.out, r.out + r.err
    r = cli("subscribers", "show", "ada@example.org", "--demo")
    assert r.code == 0 and "Feedback: 2 votes" in r.out and "Last issues (1, newest first)" in r.out, r.out + r.err


def test_show_on_an_empty_store(project, cli):
    assert not project.db.exists()
    r = cli("subscribers", "show", "alan@example.org")
    assert r.code == 0, r.err
    assert "Alan Turing <alan@example.org>" in r.out and "mail        goes out" in r.out
    assert "Feedback: none yet" in r.out and "Last issues: none yet" in r.out
    cfg = load_config(project.config)
    store = Store.open(project.db)
    try:
        report = reader_report(cfg, store, "alan@example.org")
    finally:
        store.close()
    assert (report.votes, report.issues, report.suppression, report.frequency_text) == ([], [], "", "daily")


def test_show_of_a_rich_markup_lookalike_is_printed_as_written(project, cli):
    cli("subscribers", "set", "alan@example.org", "--interests", "[bold]robots[/bold] and [red]world models")
    r = cli("subscribers", "show", "alan@example.org")
    assert r.code == 0, r.err
    assert "[bold]robots[/bold] and [red]world models" in r.out


def sample_papers() -> list[Paper]:
    ns = {"a": "http://www.w3.org/2005/Atom"}
    feed = ET.parse(ROOT / "newsletter" / "fetch" / "sample" / "arxiv-2026-02-09.atom").getroot()
    t = datetime(2026, 2, 6, tzinfo=UTC)
    return [Paper(e.findtext("a:id", "", ns).rsplit("/", 1)[-1].split("v")[0], 1, e.findtext("a:title", "", ns), [],
                  e.findtext("a:summary", "", ns), ["cs.CV"], "cs.CV", t, t, "") for e in feed.findall("a:entry", ns)]


def test_shipped_readers_have_documented_keys_and_interests_that_part_on_the_sample_day():
    from newsletter.embeddings import embed, paper_text

    text = (ROOT / "subscribers" / "team.toml").read_text()
    header = text.split("\n[[subscriber]]", 1)[0]
    for key in ("email", "name", "profiles", "language", *PREFERENCE_KEYS):
        assert f"#   {key} " in header, f"team.toml's header comment does not document {key}"
    cfg = load_config(ROOT / "config.toml")
    subs = {s.name: s for s in load_subscribers(cfg)}
    ada, alan = subs["Ada Lovelace"], subs["Alan Turing"]
    assert ada.profiles == alan.profiles == ["cv"] and ada.max_papers == alan.max_papers == 3
    assert ada.personal and alan.personal and ada.interests != alan.interests
    papers = sample_papers()
    assert len(papers) == 10
    vectors = embed([paper_text(p) for p in papers])
    top = {}
    for s in (ada, alan):
        scores = vectors @ embed([s.interests])[0]
        top[s.name] = [papers[i].id for i in scores.argsort()[::-1][:3]]
    assert top["Ada Lovelace"][0] == "2602.06830"  # GaussianPOP: compact 3D Gaussian splatting
    assert top["Alan Turing"][0] == "2602.06949"  # DreamDojo: a robot world model from human videos
    assert len(set(top["Ada Lovelace"]) & set(top["Alan Turing"])) <= 1, top
