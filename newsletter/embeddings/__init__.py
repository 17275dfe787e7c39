"""Local sentence embeddings, key-free: takes texts (or papers) and gives L2-normalised float32 vectors.

all-MiniLM-L6-v2 as int8 ONNX on onnxruntime (CPU), loaded on first use; vectors cached in the store per MODEL_ID.
"""

from .cache import ensure_vectors
from .model import DIM, MODEL_ID, EmbeddingUnavailable, embed, load, paper_text

__all__ = ["DIM", "MODEL_ID", "EmbeddingUnavailable", "embed", "ensure_vectors", "load", "paper_text"]
