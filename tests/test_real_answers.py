"""The validator on real answers of the system we replace (tests/data/answers/): every refusal and
degenerate answer is caught, every labelled preamble and sign-off is stripped and nothing else, no
good answer is rejected, and the README shows the table this computes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.real_answers import DATA, evaluate, load, table

ROOT = Path(__file__).resolve().parent.parent
OUTCOMES = evaluate()


def test_corpus_is_there_and_credited():
    reports, answers = load()
    assert len(reports) >= 10 and len(answers) >= 40
    credits = (DATA / "answers" / "README.md").read_text(encoding="utf-8")
    for day, src in reports.items():
        assert (DATA / src["file"]).is_file()
        assert src["repo"] and src["path"].endswith(f"{day}.md") and len(src["commit"]) == 40
        assert src["commit"] in credits, f"{day} is not credited in tests/data/answers/README.md"
    assert {a["label"] for a in answers} == {"good", "refusal", "degenerate"}


@pytest.mark.parametrize("o", OUTCOMES, ids=lambda o: o.name)
def test_real_answer(o):
    label = o.answer["label"]
    if label == "good":
        assert o.result.ok, o.result.failed
    else:
        assert not o.result.ok
    if label == "refusal":
        assert "refusal" in o.result.failed
    # exactly the labelled chat lines go, in order (sign-offs are taken from the end)
    assert o.removed == o.answer["preamble"] + o.answer["signoff"][::-1]
    assert o.kept == o.expected
    if o.result.ok:  # normalising headings rewrites heading lines only
        rewritten = set(o.kept.splitlines()) - set(o.result.text.splitlines())
        assert all(ln.lstrip().startswith(("#", "**")) for ln in rewritten if ln.strip()), rewritten


def test_readme_shows_this_table():
    t = table(OUTCOMES)
    print("\n" + t)
    for readme in (ROOT / "README.md", DATA / "answers" / "README.md"):
        assert t in readme.read_text(encoding="utf-8"), f"{readme} does not show the current table:\n{t}"
