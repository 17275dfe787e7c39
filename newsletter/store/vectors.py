"""Paper embeddings: one float32 vector per (paper, model id), so a model change re-embeds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .rows import now_iso

if TYPE_CHECKING:
    import numpy as np


class VectorsMixin:
    """Methods of Store; `self.db` is the sqlite-utils Database, `self.transaction()` all-or-nothing."""

    db: Any

    def put_vectors(self, model_id: str, vectors: dict[str, np.ndarray]) -> None:
        """Store (or replace) vectors as little-endian float32 blobs."""
        import numpy as np

        at = now_iso()
        rows = []
        for paper_id, v in vectors.items():
            arr = np.ascontiguousarray(v, dtype="<f4").reshape(-1)
            rows.append({"paper_id": paper_id, "model": model_id, "dim": int(arr.size), "vector": arr.tobytes(), "at": at})
        with self.transaction():
            self.db["paper_vectors"].upsert_all(rows, pk=("paper_id", "model"))

    def get_vectors(self, model_id: str, ids: list[str]) -> dict[str, np.ndarray]:
        """The stored vectors among `ids` for this model id; missing ones are simply absent."""
        import numpy as np

        out: dict[str, np.ndarray] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            q = f"select paper_id, dim, vector from paper_vectors where model = ? and paper_id in ({marks})"
            for paper_id, dim, blob in self.db.execute(q, [model_id, *chunk]).fetchall():
                v = np.frombuffer(blob, dtype="<f4").astype(np.float32)
                if v.size == dim:
                    out[paper_id] = v
        return out

    def vector_times(self, model_id: str) -> dict[str, str]:
        """When each paper's vector was written (paper id -> ISO time): shows a vector was not redone."""
        rows = self.db.execute("select paper_id, at from paper_vectors where model = ?", [model_id]).fetchall()
        return {r[0]: r[1] for r in rows}
