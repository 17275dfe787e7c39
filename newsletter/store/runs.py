"""Runs: what each command did (stage, status, counts, cost, error), for status and catch-up."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from .rows import now_iso


class RunsMixin:
    """Methods of Store; `self.db` is the sqlite-utils Database, `self.transaction()` all-or-nothing."""

    db: Any

    def start_run(self, command: str, day: date | None) -> int:
        with self.transaction():
            return self.db["runs"].insert(
                {
                    "date": day.isoformat() if day else None, "command": command, "started": now_iso(),
                    "finished": None, "stage": "start", "status": "running", "counts": "{}", "cost": 0.0,
                    "error": "",
                }
            ).last_pk

    def update_run(self, run_id: int, **fields: Any) -> None:
        if "counts" in fields and not isinstance(fields["counts"], str):
            fields["counts"] = json.dumps(fields["counts"])
        with self.transaction():
            self.db["runs"].update(run_id, fields)

    def recent_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = [dict(r) for r in self.db["runs"].rows_where(order_by="id desc", limit=limit)]
        for r in rows:
            r["counts"] = json.loads(r["counts"] or "{}")
        return rows
