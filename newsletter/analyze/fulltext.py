"""A paper's full text for the LLM: download the PDF (politely), extract with pypdf, cut to a budget.

Downloads are limited to [llm] pdf_concurrency at once, identify themselves, honour Retry-After
on 429/503 and are made once: the extracted text is kept under var/fulltext/. The cut keeps
what a method analysis needs: references and acknowledgements go first, then the appendix
and related work, while the method and experiments sections keep the largest share.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from pathlib import Path

from .. import stop
from ..config import Config
from ..errors import StopRequested
from ..models import Paper

log = logging.getLogger(__name__)

USER_AGENT = "arxiv-newsletter/0.1 (+https://github.com/; polite PDF fetcher)"
MAX_PDF_BYTES = 60 * 1024 * 1024
MAX_PAGES = 80
PROMPT_OVERHEAD_TOKENS = 2500  # instructions, title and abstract around the text

# Section kinds by heading word, in the order they are dropped/trimmed first when over budget.
SECTION_RE = re.compile(
    r"^\s*(?:(?:\d+(?:\.\d+)*|[IVX]+|[A-H])[.)]?\s+)?"
    r"(abstract|introduction|related\s+work|background|prior\s+work|preliminar\w*|method\w*|approach|"
    r"our\s+approach|proposed\s+\w+|framework|model|architecture|experiment\w*|evaluation|results|"
    r"ablation\w*|implementation\s+details|discussion|limitation\w*|conclusions?|future\s+work|"
    r"references|bibliography|acknowledge?ments?|appendix|appendices|supplementary\s+\w+)\b[^\n]{0,60}$",
    re.IGNORECASE,
)
KIND_OF = [
    ("references", r"references|bibliography"),
    ("acknowledgements", r"acknowledge?ments?"),
    ("appendix", r"appendix|appendices|supplementary"),
    ("related", r"related|background|prior"),
    ("intro", r"introduction"),
    ("abstract", r"abstract"),
    ("experiments", r"experiment|evaluation|results|ablation|implementation"),
    ("conclusion", r"conclusion|discussion|limitation|future"),
    ("method", r"method|approach|proposed|framework|model|architecture|preliminar"),
]
# Who gets budget first (greedy): the method and experiments, then the rest.
PRIORITY = ["method", "experiments", "abstract", "conclusion", "intro", "other", "related", "appendix"]
ALWAYS_DROP = {"references", "acknowledgements"}


class FullTextUnavailable(Exception):
    """No usable full text (no PDF yet, download failed, image-only PDF...)."""


def estimate_tokens(text: str) -> int:
    """Rough and fast: ~4 characters per token for Latin text, ~1 per CJK character."""
    cjk = len(re.findall(r"[\u3400-\u9fff]", text))
    return cjk + (len(text) - cjk) // 4


def extract_text(pdf: bytes) -> str:
    """Plain text of a PDF with pypdf; hyphenated line ends joined, whitespace tidied."""
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(pdf))
        pages = [page.extract_text() or "" for page in reader.pages[:MAX_PAGES]]
    except Exception as e:  # noqa: BLE001 - pypdf raises many kinds on broken files
        raise FullTextUnavailable(f"unreadable PDF ({type(e).__name__}: {e})") from None
    text = "\n".join(pages)
    text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    if len(text.strip()) < 500:
        raise FullTextUnavailable("the PDF has almost no extractable text (scanned or image-only?)")
    return text.strip()


def split_sections(text: str) -> list[tuple[str, str]]:
    """[(kind, text)] in document order; text before the first heading is 'abstract'-ish front matter."""
    sections: list[tuple[str, list[str]]] = [("front", [])]
    after_refs = False
    for line in text.splitlines():
        m = SECTION_RE.match(line) if len(line) < 90 else None
        if m:
            word = m.group(1).lower()
            kind = next((k for k, pat in KIND_OF if re.match(pat, word)), "other")
            if after_refs and kind not in ALWAYS_DROP:
                kind = "appendix"  # whatever follows the references is appendix material
            if kind == "references":
                after_refs = True
            sections.append((kind, [line]))
        else:
            sections[-1][1].append(line)
    out = [(k if k != "front" else "abstract", "\n".join(lines).strip()) for k, lines in sections]
    return [(k, t) for k, t in out if t]


def _trim(text: str, tokens: int) -> str:
    """The first `tokens` of a section, cut at a sentence or line end."""
    if estimate_tokens(text) <= tokens:
        return text
    chars = max(0, tokens * 4)
    cut = text[:chars]
    end = max(cut.rfind(". "), cut.rfind("\n"), cut.rfind("。"))
    if end > chars // 2:
        cut = cut[: end + 1]
    return cut.rstrip() + "\n[…]"


def cut_to_budget(text: str, max_tokens: int) -> str:
    """Keep the text under `max_tokens`, giving the method and experiments the largest share."""
    sections = [(k, t) for k, t in split_sections(text) if k not in ALWAYS_DROP]
    if sum(estimate_tokens(t) for _, t in sections) <= max_tokens:
        return "\n\n".join(t for _, t in sections)
    if len(sections) <= 1:
        return _trim(text, max_tokens)
    # each section is guaranteed a small head so the paper stays readable, then greedy by priority
    floor = max(60, max_tokens // (8 * len(sections)))
    alloc = {i: min(estimate_tokens(t), floor) for i, (_, t) in enumerate(sections)}
    left = max_tokens - sum(alloc.values())
    for kind in PRIORITY:
        for i, (k, t) in enumerate(sections):
            if (k if k in PRIORITY else "other") != kind or left <= 0:
                continue
            extra = min(estimate_tokens(t) - alloc[i], left)
            alloc[i] += extra
            left -= extra
    return "\n\n".join(_trim(t, alloc[i]) for i, (_, t) in enumerate(sections) if alloc[i] > 0)


def cache_path(cfg: Config, paper: Paper) -> Path:
    return cfg.var_dir / "fulltext" / f"{paper.versioned_id.replace('/', '_')}.txt"


def _pause(seconds: float) -> None:
    """Wait before the next download attempt; a stop request (SIGTERM) ends the wait at once."""
    if stop.wait(seconds):
        raise StopRequested("stopped on request while waiting to download a PDF")


def _download(url: str, timeout: float, retries: int = 2) -> bytes:
    """The PDF's bytes, retried on 429/5xx (honouring Retry-After up to 30 s) and network errors."""
    import requests

    for attempt in range(retries + 1):
        try:
            with requests.get(url, timeout=(10, timeout), headers={"User-Agent": USER_AGENT}, stream=True) as r:
                if r.status_code in (429, 500, 502, 503, 504) and attempt < retries:
                    wait = r.headers.get("Retry-After", "")
                    _pause(min(30.0, float(wait)) if wait.isdigit() else 2.0 * (attempt + 1))
                    continue
                if r.status_code != 200:
                    raise FullTextUnavailable(f"PDF download answered HTTP {r.status_code}")
                data = bytearray()
                for chunk in r.iter_content(256 * 1024):
                    data += chunk
                    if len(data) > MAX_PDF_BYTES:
                        raise FullTextUnavailable("PDF larger than 60 MB")
                if not bytes(data[:1024]).lstrip().startswith(b"%PDF"):
                    raise FullTextUnavailable("the download is not a PDF")
                return bytes(data)
        except requests.RequestException as e:
            if attempt >= retries:
                raise FullTextUnavailable(f"PDF download failed ({type(e).__name__})") from None
            _pause(1.0 * (attempt + 1))
    raise FullTextUnavailable("PDF download failed")


async def fetch_fulltext(cfg: Config, paper: Paper, sem: asyncio.Semaphore) -> str:
    """The paper's extracted text (from var/fulltext/ when already downloaded); FullTextUnavailable if none."""
    path = cache_path(cfg, paper)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    if not paper.pdf_url:
        raise FullTextUnavailable("the paper has no PDF link yet")
    async with sem:
        pdf = await asyncio.to_thread(_download, paper.pdf_url, min(cfg.llm.timeout, 120))
    text = await asyncio.to_thread(extract_text, pdf)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        log.warning("cannot keep the full text of %s in %s (%s)", paper.id, path, e.strerror)
    return text


def budget_for(cfg: Config) -> int:
    return max(500, cfg.llm.max_input_tokens - PROMPT_OVERHEAD_TOKENS)
