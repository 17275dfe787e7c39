"""Derive report variants from the reference that reproduce the defects seen in real reports."""

import textwrap
from pathlib import Path

ref = Path("tests/data/arxiv_cv_report_2026-02-09.md").read_text(encoding="utf-8")
out = Path("tests/data/reports")

# A: every abstract hard-wrapped at 80 columns as arXiv serves it, doubled spaces after
# **Authors:** and inside an abstract, and line-end whitespace on some structural lines
lines = ref.split("\n")
res, i, n_abs = [], 0, 0
while i < len(lines):
    ln = lines[i]
    if ln == "**Abstract:**" and lines[i + 1] == "":
        n_abs += 1
        res += [ln + ("  " if n_abs == 2 else ""), ""]
        text = lines[i + 2]
        if n_abs == 3:
            text = text.replace(". ", ".  ", 2)  # two sentences ended with two spaces
        res += textwrap.wrap(text, width=80, break_long_words=False, break_on_hyphens=False)
        i += 3
        continue
    if ln.startswith("**Authors:** ") and n_abs in (0, 3):
        ln = "**Authors:**  " + ln[len("**Authors:** "):]
    if ln.startswith("**Published:**") and n_abs == 4:
        ln += " "
    res.append(ln)
    i += 1
(out / "wrapped_abstracts_2026-02-09.md").write_text("\n".join(res), encoding="utf-8")

# B: analyses with `-----`/`***` runs, headings (## and ###), and lines that look like the
# layout's own labels (**Key Findings:**, **Analysis:**) inside the analysis text
b = ref
first = "\n\n**Key Findings:**\n\n"
parts = b.split(first)
extra = [
    "\n\n-----\n\n### Heading inside the analysis\n\nText after a `-----` run.\n\n***\n\n## Another heading",
    "\n\n**Analysis:**\n\nAn analysis quoting the layout label.\n\n**Key Findings:**\n\n- not a real finding",
    "\n\n---\n---\n\n#### Deep heading\n\n----------",
]
for k, add in enumerate(extra):
    parts[k] = parts[k] + add
b = first.join(parts)
b = b.replace("**Authors:** Darryl Hannan, John Cooper", "**Authors:** Darryl Hannan,  John Cooper")
(out / "analysis_structure_2026-02-09.md").write_text(b, encoding="utf-8")
print(n_abs)
