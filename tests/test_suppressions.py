"""Suppressions per list: an old database (one row per address, every list) upgrades in place."""

from __future__ import annotations

import sqlite3

import sqlite_utils

from newsletter.store import Store
from newsletter.store.migrations import MIGRATIONS


def test_an_old_store_keeps_its_suppressions_as_every_list(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(sqlite3.connect(path))
    db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
    for name, fn in MIGRATIONS:
        if name == "m003_suppressions_per_list":
            break
        fn(db)
        db["_migrations"].insert({"name": name, "applied_at": "2026-01-01T00:00:00Z"})
    db["suppressions"].insert({"email": "ada@example.org", "reason": "hard_bounce", "detail": "550", "at": "x"})
    db.conn.commit()
    db.conn.close()

    store = Store.open(path)
    try:
        assert store.suppressions() == [
            {"email": "ada@example.org", "list": "", "reason": "hard_bounce", "detail": "550", "at": "x"}]
        assert store.suppressed("cv") == {"ada@example.org": "hard_bounce"}
        store.suppress("ada@example.org", "unsubscribed", list_name="cv")  # a second row, not a clash
        store.suppress("bob@example.org", "unsubscribed", list_name="cv")
        store.suppress("bob@example.org", "unsubscribed", list_name="cv")  # again: still one row
        assert len(store.suppressions()) == 3
        assert store.suppressed("robots") == {"ada@example.org": "hard_bounce"}
        assert store.suppressed() == {"ada@example.org": "hard_bounce", "bob@example.org": "unsubscribed"}
        assert store.unsuppress("ada@example.org", "cv") and store.suppressed("cv")["ada@example.org"] == "hard_bounce"
        assert store.unsuppress("bob@example.org") and not store.unsuppress("bob@example.org")
    finally:
        store.close()
    again = Store.open(path)  # nothing applied twice
    try:
        assert again.migrate() == [] and len(again.suppressions()) == 1
    finally:
        again.close()
