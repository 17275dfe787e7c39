"""The LLM cache: every answer kept under sha256(model, messages, params), never paid twice."""

from __future__ import annotations

from typing import Any

from .rows import now_iso


class LLMCacheMixin:
    """Methods of Store; `self.db` is the sqlite-utils Database, `self.transaction()` all-or-nothing."""

    db: Any

    def get_llm_call(self, key: str) -> dict[str, Any] | None:
        rows = list(self.db["llm_calls"].rows_where("key = ?", [key]))
        return rows[0] if rows else None

    def put_llm_call(self, row: dict[str, Any]) -> None:
        row = {**row, "at": row.get("at") or now_iso()}
        with self.transaction():
            self.db["llm_calls"].upsert(row, pk="key")

    def llm_totals(self, run_id: int) -> dict[str, float]:
        r = self.db.execute(
            "select count(*), coalesce(sum(cost),0), coalesce(sum(prompt_tokens),0), "
            "coalesce(sum(completion_tokens),0) from llm_calls where run_id = ?", [run_id]
        ).fetchone()
        return {"calls": r[0], "cost": r[1], "prompt_tokens": r[2], "completion_tokens": r[3]}
