"""Each paper is embedded once: vectors are kept in the store under MODEL_ID and reused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..models import Paper
from .model import MODEL_ID, embed, paper_text

if TYPE_CHECKING:
    import numpy as np


class VectorStore(Protocol):
    def get_vectors(self, model_id: str, ids: list[str]) -> dict[str, np.ndarray]: ...
    def put_vectors(self, model_id: str, vectors: dict[str, np.ndarray]) -> None: ...


def ensure_vectors(store: VectorStore, papers: list[Paper], batch_size: int = 8) -> dict[str, np.ndarray]:
    """Vectors for `papers` by id: stored ones are read back, only the missing ones reach the model."""
    ids = list(dict.fromkeys(p.id for p in papers))
    have = store.get_vectors(MODEL_ID, ids)
    todo = [p for p in {p.id: p for p in papers}.values() if p.id not in have]
    if todo:
        vectors = embed([paper_text(p) for p in todo], batch_size=batch_size)
        new = {p.id: vectors[i] for i, p in enumerate(todo)}
        store.put_vectors(MODEL_ID, new)
        have.update(new)
    return {i: have[i] for i in ids}
