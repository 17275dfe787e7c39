"""The store: migrations applied once and recorded, data survives re-opening, errors are one line."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from newsletter import store as store_mod
from newsletter.models import Edition, Paper
from newsletter.store import Store, StoreError


def paper(pid: str, version: int = 1) -> Paper:
    t = datetime(2026, 2, 6, 12, tzinfo=UTC)
    return Paper(pid, version, f"Title {pid}", ["A. Author"], "Abstract.", ["cs.CV"], "cs.CV", t, t,
                 f"https://arxiv.org/pdf/{pid}v{version}")


def test_migrations_run_once_and_are_recorded(tmp_path):
    s = Store.open(tmp_path / "n.db")
    names = [r["name"] for r in s.db["_migrations"].rows]
    assert names == [n for n, _ in store_mod.MIGRATIONS]
    s.close()
    assert Store.open(tmp_path / "n.db").migrate() == []


def test_new_migration_upgrades_old_database_in_place(tmp_path, monkeypatch):
    s = Store.open(tmp_path / "n.db")
    s.upsert_papers([paper("2602.00001")])
    s.close()

    def m999_add_column(db):
        db["papers"].add_column("extra", str)

    monkeypatch.setattr(store_mod, "MIGRATIONS", [*store_mod.MIGRATIONS, ("m999_add_column", m999_add_column)])
    s = Store.open(tmp_path / "n.db")
    assert "extra" in s.db["papers"].columns_dict
    assert s.get_papers(["2602.00001"])[0].title == "Title 2602.00001"


def test_upsert_counts_new_papers_and_keeps_latest_version(tmp_path):
    s = Store.open(tmp_path / "n.db")
    assert s.upsert_papers([paper("2602.00001"), paper("2602.00002")]) == 2
    assert s.upsert_papers([paper("2602.00001", 2)]) == 0
    assert s.get_papers(["2602.00001"])[0].version == 2


def test_featured_before_excludes_same_day_only(tmp_path):
    s = Store.open(tmp_path / "n.db")
    s.upsert_papers([paper("2602.00001"), paper("2602.00002")])
    ed = Edition(date=date(2026, 2, 9), profile="cv", language="zh", title="t")
    s.save_selection(ed, ["2602.00001"])
    assert s.featured_before("cv", ["2602.00001", "2602.00002"], date(2026, 2, 10)) == {"2602.00001"}
    assert s.featured_before("cv", ["2602.00001"], date(2026, 2, 9)) == set()
    assert s.featured_before("other", ["2602.00001"], date(2026, 2, 10)) == set()


def test_transaction_rolls_back_on_crash(tmp_path):
    s = Store.open(tmp_path / "n.db")
    with pytest.raises(RuntimeError), s.transaction():
        s.db["papers"].insert({"id": "x", "version": 1})
        raise RuntimeError("crash")
    assert s.db["papers"].count == 0


def test_corrupt_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "n.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        Store.open(bad)
    assert bad.read_bytes() == b"this is not sqlite" * 100


def test_deliveries_ledger_is_created_once(tmp_path):
    s = Store.open(tmp_path / "n.db")
    s.upsert_papers([paper("2602.00001")])
    eid = s.save_selection(Edition(date=date(2026, 2, 9), profile="cv", language="zh", title="t"), ["2602.00001"])
    assert s.create_deliveries(eid, [("a@example.org", "A", "<1@x>"), ("b@example.org", "B", "<2@x>")]) == 2
    s.set_delivery(eid, "a@example.org", "sent", attempt=True)
    assert s.create_deliveries(eid, [("a@example.org", "A", "<3@x>")]) == 0
    d = {x.email: x for x in s.deliveries(eid)}
    assert d["a@example.org"].status == "sent" and d["a@example.org"].message_id == "<1@x>"
    assert s.delivery_counts(eid) == {"sent": 1, "pending": 1}
