"""Editing subscribers/*.toml: comments and order kept, duplicates merged, every refusal explained."""

from __future__ import annotations

import pytest

from newsletter.config import load_config
from newsletter.roster import load_subscribers
from newsletter.store import Store
from newsletter.subscribers import (
    SubscriberError,
    add_subscriber,
    import_csv,
    list_subscribers,
    remove_subscriber,
    resubscribe,
    unsubscribe,
)


@pytest.fixture
def cfg(project):
    return load_config(project.config)


def team(project) -> str:
    return (project.dir / "subscribers" / "team.toml").read_text()


def test_add_keeps_comments_and_order(project, cfg):
    before = team(project)
    r = add_subscriber(cfg, "Grace@Example.org", "Grace Hopper")
    assert r.added == ["Grace@example.org"]
    after = team(project)
    assert after.startswith(before.rstrip("\n"))  # comments and the old entries untouched
    emails = [s.email for s in load_subscribers(cfg)]
    assert emails == ["ada@example.org", "alan@example.org", "Grace@example.org"]


def test_add_existing_address_in_other_case_merges(project, cfg):
    cfg.profiles.append(cfg.profiles[0].model_copy(update={"name": "ml"}))
    r = add_subscriber(cfg, "ADA@example.org", "", profiles=["ml"])
    assert r.merged == ["ADA@example.org"] and not r.added
    subs = {s.email: s for s in load_subscribers(cfg)}
    assert subs["ada@example.org"].profiles == ["cv", "ml"] and len(subs) == 2
    again = add_subscriber(cfg, "ada@EXAMPLE.org", profiles=["cv"])
    assert again.unchanged == ["ada@EXAMPLE.org"] or again.unchanged == ["ada@example.org"]


@pytest.mark.parametrize(
    "address,why",
    [("not-an-address", "not a valid address"), ("a@b@c.org", "not a valid address"),
     ("eve@example.org\r\nBcc: x@y.org", "not a valid address")],
)
def test_add_refuses_bad_addresses_with_one_line(project, cfg, address, why):
    before = team(project)
    with pytest.raises(SubscriberError, match=why) as e:
        add_subscriber(cfg, address)
    assert "\n" not in str(e.value).strip() and team(project) == before


def test_add_refuses_unknown_profile(project, cfg):
    with pytest.raises(SubscriberError, match="unknown profile 'nope'"):
        add_subscriber(cfg, "x@example.org", profiles=["nope"])


def test_remove_is_case_insensitive_and_keeps_the_rest(project, cfg):
    changed = remove_subscriber(cfg, "ALAN@example.org")
    assert [p.name for p in changed] == ["team.toml"]
    text = team(project)
    assert "alan@example.org" not in text and "ada@example.org" in text and text.startswith("# Subscribers")
    with pytest.raises(SubscriberError, match="is not in"):
        remove_subscriber(cfg, "alan@example.org")


def test_import_csv_merges_duplicates_and_explains_every_refusal(project, cfg, tmp_path):
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "email,name,profiles\n"
        "new1@example.org,New One,cv\n"
        "NEW1@example.org,,cv\n"          # duplicate in another case: merged
        "bad address,Bad,cv\n"
        ",Nobody,cv\n"
        "ada@example.org,Ada L.,cv\n"     # already in the file: merged (name updated)
        "x@example.org,X,unknown\n"
        "\n"
        "new2@example.org,\"Two, Jr.\",\n",
        encoding="utf-8",
    )
    r = import_csv(cfg, csv_file)
    assert r.added == ["new1@example.org", "new2@example.org"]
    assert "ada@example.org" in r.merged
    assert len(r.refused) == 3
    assert "row 4" in r.refused[0] and "not a valid address" in r.refused[0]
    assert "row 5" in r.refused[1] and "no email" in r.refused[1]
    assert "row 7" in r.refused[2] and "unknown profile 'unknown'" in r.refused[2]
    subs = {s.email: s for s in load_subscribers(cfg)}
    assert subs["ada@example.org"].name == "Ada L." and subs["new2@example.org"].name == "Two, Jr."
    assert len(subs) == 4


def test_import_csv_without_header(project, cfg, tmp_path):
    f = tmp_path / "plain.csv"
    f.write_text("z@example.org,Zed\n", encoding="utf-8")
    r = import_csv(cfg, f, file="imported")
    assert r.added == ["z@example.org"] and (project.dir / "subscribers" / "imported.toml").exists()
    assert {s.email for s in load_subscribers(cfg)} >= {"z@example.org", "ada@example.org"}


def test_unsubscribe_suppresses_and_list_shows_it(project, cfg, tmp_path):
    store = Store.open(tmp_path / "t.db")
    try:
        unsubscribe(store, cfg, "Alan@Example.org")
        listed = {s.email: why for s, why in list_subscribers(cfg, store)}
        assert listed == {"ada@example.org": "", "alan@example.org": "unsubscribed"}
        assert resubscribe(store, "ALAN@example.org")
        assert store.suppressed() == {}
        unsubscribe(store, cfg, "ada@example.org", remove=True)
        assert "ada@example.org" not in team(project)
    finally:
        store.close()


def test_unsubscribe_from_one_list_and_list_shows_it_per_list(project, cli):
    project.append('[[profiles]]\nname = "robots"\ntitle = "Arxiv Robotics Papers"\ncategories = ["cs.RO"]\n'
                   'language = "en"\n')
    cfg = load_config(project.config)
    add_subscriber(cfg, "ada@example.org", profiles=["robots"])  # now on both lists
    r = cli("subscribers", "unsubscribe", "ADA@example.org", "--profile", "cv")
    assert r.code == 0 and "unsubscribed ada@example.org from list cv" in r.out
    r = cli("subscribers", "unsubscribe", "alan@example.org")
    assert r.code == 0 and "from every list" in r.out
    r = cli("subscribers", "list")
    lines = {ln.split("\t")[0]: ln for ln in r.out.splitlines()}
    assert lines["ada@example.org"].endswith("[suppressed: unsubscribed from cv]")
    assert lines["alan@example.org"].endswith("[suppressed: unsubscribed]")
    assert "2 subscribers, 2 with a suppression" in r.err
    store = Store.open(project.db)
    try:
        assert store.suppressed("robots") == {"alan@example.org": "unsubscribed"}
        assert set(store.suppressed("cv")) == {"ada@example.org", "alan@example.org"}
    finally:
        store.close()
    r = cli("subscribers", "unsubscribe", "ada@example.org", "--profile", "nope")
    assert r.code == 2 and "unknown profile 'nope'" in r.err
    # lifting one list's suppression does not lift an every-list one, and says so
    r = cli("subscribers", "resubscribe", "alan@example.org", "--profile", "cv")
    assert "was not suppressed for list cv" in r.out and "still suppressed for every list" in r.err
    r = cli("subscribers", "resubscribe", "ada@example.org", "--profile", "cv")
    assert r.code == 0 and "resubscribed ada@example.org for list cv" in r.out
    r = cli("subscribers", "list")
    assert "[suppressed" not in {ln.split("\t")[0]: ln for ln in r.out.splitlines()}["ada@example.org"]


def test_unsubscribe_one_list_with_remove_takes_only_that_profile_out(project):
    project.append('[[profiles]]\nname = "robots"\ncategories = ["cs.RO"]\n')
    cfg = load_config(project.config)
    add_subscriber(cfg, "ada@example.org", profiles=["robots"])
    store = Store.open(project.db)
    try:
        unsubscribe(store, cfg, "ada@example.org", remove=True, profile="cv")
        subs = {s.email: s for s in load_subscribers(cfg)}
        assert subs["ada@example.org"].profiles == ["robots"]
        unsubscribe(store, cfg, "ada@example.org", remove=True, profile="robots")
        assert "ada@example.org" not in {s.email for s in load_subscribers(cfg)}
        assert "# Subscribers" in team(project)
    finally:
        store.close()
