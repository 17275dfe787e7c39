"""Build the bundled sample day (newsletter/fetch/sample/) from the reference issue of 2026-02-09.

Reads the ten papers (title, id and version, authors, categories, abstract) out of the reference
Markdown, writes them as one arXiv API Atom response (arxiv-2026-02-09.atom) and writes one small
PDF per paper whose text (Introduction / Method / Experiments) is made from its abstract, so the
full-text path can run offline. Run once and commit the output:

    .venv/bin/python tools/make_sample.py [path/to/arxiv_cv_report_2026-02-09.md]
"""

from __future__ import annotations

import re
import sys
import textwrap
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.fetch.sample import FEED_PATH, SAMPLE_DIR, SAMPLE_QUERY  # noqa: E402
from newsletter.fetch.sample.atom import Entry, feed_xml  # noqa: E402

REFERENCE = ROOT / "tests" / "data" / "arxiv_cv_report_2026-02-09.md"  # a copy of the reference issue
HEAD = re.compile(r"^## \[(?P<title>.+)\]\(https://arxiv\.org/abs/(?P<id>\d{4}\.\d{4,5})v(?P<v>\d+)\)\s*$", re.M)
# The window of issue 2026-02-09 is Thu 2026-02-05 19:00Z .. Fri 2026-02-06 19:00Z; the reference says
# Published 2026-02-06 for all ten, and arXiv numbers submissions in order: space them through that day.
LAST_SUBMISSION = datetime(2026, 2, 6, 18, 31, 5, tzinfo=UTC)


def parse_reference(text: str) -> list[Entry]:
    heads = list(HEAD.finditer(text))
    entries = []
    for i, h in enumerate(heads):
        seg = text[h.end(): heads[i + 1].start() if i + 1 < len(heads) else len(text)]

        def field(name: str, seg: str = seg, h: re.Match = h) -> str:
            m = re.search(rf"^\*\*{name}:\*\*[ \t]*(.*)$", seg, re.M)
            if not m:
                raise SystemExit(f"{h.group('id')}: no **{name}:** line in the reference")
            return m.group(1).strip()

        m = re.search(r"^\*\*Abstract:\*\*\s*\n(.*?)\n\s*\n\*\*", seg, re.S | re.M)
        if not m:
            raise SystemExit(f"{h.group('id')}: no abstract in the reference")
        cats = [c.strip() for c in field("Categories").split(",") if c.strip()]
        published = LAST_SUBMISSION - timedelta(minutes=53 * i, seconds=17 * i)
        if field("Published") != published.date().isoformat():
            raise SystemExit(f"{h.group('id')}: reference says published {field('Published')}")
        entries.append(Entry(
            id=f"{h.group('id')}v{h.group('v')}",
            title=h.group("title").strip(),
            summary=" ".join(m.group(1).split()),
            authors=[a.strip() for a in field("Authors").split(", ") if a.strip()],
            published=published,
            updated=published,
            categories=cats,
            primary_category=cats[0],
        ))
    if len(entries) != 10:
        raise SystemExit(f"expected 10 papers in the reference, found {len(entries)}")
    return entries


# -- a minimal, valid PDF (Helvetica, WinAnsi text, Flate-compressed content) -----------------


def _pdf_str(s: str) -> str:
    s = s.encode("latin-1", "replace").decode("latin-1")
    return "(" + s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def _layout(blocks: list[tuple[str, int, str]]) -> list[list[str]]:
    """Lines of PDF text operators per page; blocks are (font, size, text)."""
    pages: list[list[str]] = [[]]
    y = 740
    for font, size, text in blocks:
        width = 90 if size <= 10 else 60
        lead = size + 3
        lines = textwrap.wrap(text, width) or [""]
        if y - lead * len(lines) < 60:
            pages.append([])
            y = 740
        for line in lines:
            pages[-1].append(f"BT /{font} {size} Tf 60 {y} Td {_pdf_str(line)} Tj ET")
            y -= lead
        y -= 8
    return pages


def make_pdf(blocks: list[tuple[str, int, str]], title: str) -> bytes:
    pages = _layout(blocks)
    objs: list[bytes] = []  # object n is objs[n-1]
    n_pages = len(pages)
    page_ids = [5 + 2 * i for i in range(n_pages)]
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] /Count {n_pages} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
    for i, ops in enumerate(pages):
        stream = zlib.compress("\n".join(ops).encode("latin-1"), 9)
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >>"
            f" /Contents {page_ids[i] + 1} 0 R >>".encode()
        )
        objs.append(f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode() + stream + b"\nendstream")
    info_id = len(objs) + 1
    objs.append(f"<< /Title {_pdf_str(title)} /Producer (newsletter tools/make_sample.py) >>".encode())
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R /Info {info_id} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def paper_blocks(e: Entry) -> list[tuple[str, int, str]]:
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z])", e.summary)
    k = max(1, len(sentences) // 3)
    intro, method, exp = sentences[:k], sentences[k: 2 * k], sentences[2 * k:] or sentences[-1:]
    return [
        ("F2", 14, e.title),
        ("F1", 10, ", ".join(e.authors)),
        ("F1", 9, f"arXiv:{e.id} [{e.primary_category}] {e.published:%d %b %Y}. Offline sample: the sections below "
                  "are made from the arXiv abstract, not the paper's full text."),
        ("F2", 11, "Abstract"),
        ("F1", 10, e.summary),
        ("F2", 11, "1 Introduction"),
        ("F1", 10, " ".join(intro)),
        ("F2", 11, "2 Method"),
        ("F1", 10, " ".join(method)),
        ("F2", 11, "3 Experiments"),
        ("F1", 10, " ".join(exp)),
        ("F2", 11, "4 Conclusion"),
        ("F1", 10, sentences[-1]),
    ]


def main(argv: list[str]) -> None:
    ref = Path(argv[1]) if len(argv) > 1 else REFERENCE
    entries = parse_reference(ref.read_text(encoding="utf-8"))
    FEED_PATH.write_bytes(feed_xml(
        entries, total=len(entries), start=0, items_per_page=len(entries), query=SAMPLE_QUERY,
        updated=datetime(2026, 2, 9, 0, 0, tzinfo=UTC),
    ))
    total = FEED_PATH.stat().st_size
    for e in entries:
        p = SAMPLE_DIR / f"{e.id}.pdf"
        p.write_bytes(make_pdf(paper_blocks(e), e.title))
        total += p.stat().st_size
    print(f"wrote {FEED_PATH.name} and {len(entries)} PDFs to {SAMPLE_DIR} ({total // 1024} KB)")


if __name__ == "__main__":
    main(sys.argv)
