"""Schema changes as small named functions, applied once, in order, and recorded in `_migrations`.

An old database upgrades in place and nothing is lost (compare simonw/llm's llm/migrations.py).
Add a change as a new function at the end; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = []




def migration(fn: Callable[[sqlite_utils.Database], None]) -> Callable[[sqlite_utils.Database], None]:
    """Register a schema change; each runs once, in order, and is recorded in `_migrations`."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(db: sqlite_utils.Database) -> None:
    """The first schema, every table at once (long because it is the whole data model in one place)."""
    db["papers"].create(
        {
            "id": str, "version": int, "title": str, "authors": str, "abstract": str,
            "categories": str, "primary_category": str, "published": str, "updated": str,
            "pdf_url": str, "comment": str, "first_seen": str,
        },
        pk="id",
    )
    db["fetches"].create(
        {
            "date": str, "since": str, "until": str, "categories": str, "count": int,
            "new": int, "status": str, "at": str,
        },
        pk="date",
    )
    db["fetch_papers"].create({"date": str, "paper_id": str}, pk=("date", "paper_id"))
    db["llm_calls"].create(
        {
            "key": str, "model": str, "messages": str, "params": str, "response": str,
            "finish_reason": str, "prompt_tokens": int, "completion_tokens": int, "cost": float,
            "duration_ms": int, "run_id": int, "at": str,
        },
        pk="key",
    )
    db["scores"].create(
        {
            "paper_id": str, "profile": str, "relevance": int, "significance": int, "reason": str,
            "model": str, "prompt_hash": str, "at": str,
        },
        pk=("paper_id", "profile", "model"),
    )
    db["analyses"].create(
        {
            "paper_id": str, "version": int, "language": str, "kind": str, "model": str,
            "text": str, "key_findings": str, "checks": str, "at": str,
        },
        pk=("paper_id", "language"),
    )
    db["editions"].create(
        {
            "id": int, "date": str, "profile": str, "language": str, "title": str, "summary": str,
            "markdown": str, "html": str, "text": str, "status": str, "created": str, "updated": str,
        },
        pk="id",
    )
    db["editions"].create_index(["date", "profile"], unique=True)
    db["edition_papers"].create(
        {"edition_id": int, "paper_id": str, "rank": int, "profile": str},
        pk=("edition_id", "paper_id"),
        foreign_keys=[("edition_id", "editions", "id")],
    )
    db["edition_papers"].create_index(["profile", "paper_id"])
    db["deliveries"].create(
        {
            "edition_id": int, "email": str, "name": str, "status": str, "attempts": int,
            "message_id": str, "last_error": str, "next_attempt": str, "updated": str,
        },
        pk=("edition_id", "email"),
        foreign_keys=[("edition_id", "editions", "id")],
    )
    db["deliveries"].create_index(["status"])
    db["suppressions"].create({"email": str, "reason": str, "detail": str, "at": str}, pk="email")
    db["runs"].create(
        {
            "id": int, "date": str, "command": str, "started": str, "finished": str, "stage": str,
            "status": str, "counts": str, "cost": float, "error": str,
        },
        pk="id",
    )


@migration
def m002_edition_attachments(db: sqlite_utils.Database) -> None:
    """What render produced travels with the edition: the files a shortened email attaches."""
    db["editions"].add_column("attachments", str, not_null_default="[]")


@migration
def m003_suppressions_per_list(db: sqlite_utils.Database) -> None:
    """A suppression names its list ("" = every list): one-click unsubscribe leaves the other lists.

    SQLite cannot change a primary key in place, so the table is rebuilt with pk (email, list);
    every old row was an every-list suppression and is copied as list "".
    """
    db.execute(
        "create table suppressions_v2 (email text not null, list text not null default '', reason text, "
        "detail text, at text, primary key (email, list))"
    )
    db.execute(
        "insert into suppressions_v2 (email, list, reason, detail, at) "
        "select email, '', reason, detail, at from suppressions"
    )
    db.execute("drop table suppressions")
    db.execute("alter table suppressions_v2 rename to suppressions")


@migration
def m004_paper_vectors(db: sqlite_utils.Database) -> None:
    """Sentence embeddings of papers (title + abstract), one per model id, as float32 blobs."""
    db["paper_vectors"].create(
        {"paper_id": str, "model": str, "dim": int, "vector": bytes, "at": str},
        pk=("paper_id", "model"),
    )


@migration
def m005_readers(db: sqlite_utils.Database) -> None:
    """Each reader their own issue: weekly editions beside daily ones, the parts every reader's
    issue is assembled from, each reader's picks (a reader never gets a paper twice), one-click
    votes, and cached reader vectors (re-embedded only when the reader's words change)."""
    db["editions"].add_column("cadence", str, not_null_default="daily")
    db["editions"].add_column("parts", str, not_null_default="")
    db.execute("drop index if exists idx_editions_date_profile")
    db["editions"].create_index(["date", "profile", "cadence"], unique=True)
    db["reader_papers"].create(
        {"edition_id": int, "email": str, "paper_id": str, "rank": int},
        pk=("edition_id", "email", "paper_id"),
        foreign_keys=[("edition_id", "editions", "id")],
    )
    db["reader_papers"].create_index(["email", "paper_id"])
    db["votes"].create(
        {"email": str, "paper_id": str, "profile": str, "vote": int, "at": str}, pk=("email", "paper_id"),
    )
    db["reader_vectors"].create(
        {"email": str, "model": str, "text_hash": str, "dim": int, "vector": bytes, "at": str},
        pk=("email", "model"),
    )


@migration
def m006_edition_rendered_at(db: sqlite_utils.Database) -> None:
    """When an edition's content was last rendered: the published site's feeds date each entry by
    it (`updated` also moves when the edition is merely sent). Editions rendered before this
    change take their last update."""
    db["editions"].add_column("rendered", str, not_null_default="")
    db.execute("update editions set rendered = coalesce(updated, created, '') where status in ('rendered', 'sent')")


@migration
def m007_mail_that_comes_back(db: sqlite_utils.Database) -> None:
    """The mail that comes back: every message read from the bounce mailbox once (keyed by its
    Message-ID, so nothing is counted twice) with the decision and its evidence, and the bounce
    and complaint events per address (what the soft-bounce threshold and the rates count)."""
    db["inbound_messages"].create(
        {
            "key": str, "message_id": str, "kind": str, "action": str, "email": str, "list": str,
            "edition_id": int, "status": str, "detail": str, "sender": str, "subject": str, "at": str,
        },
        pk="key",
    )
    db["bounce_events"].create(
        {
            "id": int, "email": str, "kind": str, "edition_id": int, "status": str, "diagnostic": str,
            "message_key": str, "at": str,
        },
        pk="id",
    )
    db["bounce_events"].create_index(["email", "at"])
    db["bounce_events"].create_index(["edition_id"])


@migration
def m008_site_version(db: sqlite_utils.Database) -> None:
    """A counter that every change to what the public pages show moves (editions, their papers, the
    papers, their analyses), kept by triggers so no writer can forget it: `serve` keeps the pages it
    rendered until the counter moves (one tiny read per request instead of a render)."""
    db.execute("create table site_version (id integer primary key check (id = 1), n integer not null)")
    db.execute("insert into site_version (id, n) values (1, 0)")
    for table in ("editions", "edition_papers", "papers", "analyses"):
        for event in ("insert", "update", "delete"):
            db.execute(
                f"create trigger site_version_{table}_{event} after {event} on {table} "
                "begin update site_version set n = n + 1 where id = 1; end"
            )
