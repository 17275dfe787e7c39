"""An OpenAI-compatible chat-completions server on 127.0.0.1 for tests and benchmarks.

litellm talks to it through `api_base=http://127.0.0.1:PORT/v1` exactly as it talks to a hosted
provider. Each request is answered by the next scripted `Reply` (FIFO), else by the first matching
rule, else by the default responder, which writes a plausible answer for our prompts (JSON scores,
7-section analysis, 5-point abstract analysis, executive summary) in the prompt's language.
Faults: latency, HTTP 429/500 (429 with any Retry-After), hanging (timeouts), finish_reason "length",
refusals, chat preambles, wrong language, malformed JSON, and OpenAI's own refusals of a bad key
(401 invalid_api_key) or an unknown model (404 model_not_found). Every request is recorded.

It also serves PDFs (GET /pdf/<id>) built by `make_pdf`, so full-text extraction is tested for real.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ZH_SECTIONS = ["摘要翻译", "方法动机分析", "方法设计详解", "方法对比分析", "实验分析", "实用指南", "总结"]
EN_SECTIONS = [
    "Abstract Summary", "Motivation", "Method Design", "Comparison with Prior Work",
    "Experimental Analysis", "Practical Guide", "Conclusion",
]
ZH_POINTS = [
    "论文的主要贡献", "关键创新点或方法论", "对该领域的潜在影响", "可能受益的相关领域或应用", "从摘要中可以推断出的局限性",
]
EN_POINTS = [
    "Main contribution", "Key innovation or methodology", "Potential impact on the field",
    "Related areas or applications that could benefit", "Limitations inferable from the abstract",
]

REFUSAL_ZH = (
    "好的，我将以AI领域高水平研究生的视角，深入分析您提供的论文方法部分。"
    "请提供论文的PDF文件或文本内容，我将为您进行详细的解读。"
)
REFUSAL_EN = (
    "Sure! I'd be glad to analyse this paper. Please provide the paper (the PDF or its full text) and I will analyse it."
)
PREAMBLE_ZH = "好的，这是一份针对您提供的论文的详细分析：\n\n---\n\n"
PREAMBLE_EN = "Sure, here is a detailed analysis of the paper you provided:\n\n---\n\n"


@dataclass
class Reply:
    """One scripted answer. content=None: the default responder writes it (then `transform` applies)."""

    status: int = 200
    delay: float = 0.0
    hang: bool = False  # never answer (until the server stops): the client must time out
    content: str | None = None
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    transform: Callable[[str], str] | None = None
    body: bytes | None = None  # raw body instead of a chat completion
    retry_after: str | None = None  # the Retry-After header of a 429 ("0" when None)


def openai_error(status: int, message: str, code: str, kind: str = "invalid_request_error") -> Reply:
    """An error answered the way api.openai.com answers it (status and JSON body)."""
    return Reply(status=status, body=json.dumps({"error": {"message": message, "type": kind, "code": code}}).encode())


# what OpenAI answers to a wrong key, and to a model name it does not know
INVALID_KEY = openai_error(401, "Incorrect API key provided", "invalid_api_key")
MODEL_NOT_FOUND = openai_error(404, "The model `stub-model` does not exist or you do not have access to it.",
                               "model_not_found")


@dataclass
class Rule:
    match: Callable[[dict], bool]
    reply: Reply
    times: int | None = None  # None: always


@dataclass
class Recorded:
    path: str
    body: dict
    at: float
    status: int = 0
    headers: dict[str, str] | None = None

    @property
    def prompt(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.body.get("messages", []))


def prompt_of(body: dict) -> str:
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))


def kind_of(body: dict) -> str:
    """Which of our prompts this is: score | fulltext | abstract | summary | other."""
    p = prompt_of(body)
    if '"relevance"' in p and '"significance"' in p:
        return "score"
    if "方法设计详解" in p or "Method Design" in p:
        return "fulltext"
    if "论文的主要贡献" in p or "Main contribution" in p:
        return "abstract"
    if "建议阅读" in p or "Recommended Reading" in p:
        return "summary"
    return "other"


def lang_of(body: dict) -> str:
    p = prompt_of(body)
    return "zh" if any(s in p for s in ("摘要翻译", "论文的主要贡献", "建议阅读", "中文")) else "en"


ID_RE = re.compile(r"\b(\d{4}\.\d{4,5})\b")


def _h(s: str) -> int:
    return int(hashlib.sha256(s.encode()).hexdigest()[:8], 16)


def default_answer(body: dict) -> str:
    kind, lang = kind_of(body), lang_of(body)
    p = prompt_of(body)
    if kind == "score":
        # only the ids of the last user message (the batch), in order, deduplicated
        last = [m for m in body.get("messages", []) if m.get("role") == "user"][-1]["content"]
        ids = list(dict.fromkeys(ID_RE.findall(last)))
        scores = [
            {"id": i, "relevance": 1 + _h(i) % 3, "significance": 1 + _h(i + "s") % 3, "reason": f"about {i}"}
            for i in ids
        ]
        return json.dumps({"scores": scores})
    if kind == "fulltext":
        heads = ZH_SECTIONS if lang == "zh" else EN_SECTIONS
        filler = (
            "该方法通过新的条件注入机制提升了生成质量，并在多个基准上取得了领先结果。实验部分对比了多种基线方法。"
            if lang == "zh" else
            "The method injects a new conditioning signal that improves quality, and the experiments compare it "
            "against several strong baselines on standard benchmarks with consistent gains. "
        )
        return "\n\n".join(f"### {n}. {h}\n\n{filler * 4}" for n, h in enumerate(heads, start=1))
    if kind == "abstract":
        heads = ZH_POINTS if lang == "zh" else EN_POINTS
        filler = (
            "这项工作提出了一种新的方法，显著提升了效率与质量，对相关领域具有重要意义。"
            if lang == "zh" else
            "This work proposes a new method that clearly improves efficiency and quality for the field. "
        )
        return "\n\n".join(f"**{n}. {h}**\n\n{filler * 3}" for n, h in enumerate(heads, start=1))
    if kind == "summary":
        ids = list(dict.fromkeys(ID_RE.findall(p)))
        if lang == "zh":
            return (
                "**主要趋势与主题：**\n\n* 本期论文聚焦于视频生成、三维表示与多模态模型的效率提升。\n\n"
                "**亮点与创新：**\n\n* 多篇论文在生成质量与效率之间取得了新的平衡。\n\n"
                "**新兴研究方向与技术：**\n\n* 隐式三维表示与模型压缩正在成为新的研究热点。\n\n"
                "**建议阅读论文：**\n\n" + "\n".join(f"{n}. 论文 {i}：值得关注。" for n, i in enumerate(ids[:4], 1))
            )
        return (
            "**Main Trends and Themes:**\n\n* This issue centres on video generation, 3D representations and "
            "efficient multimodal models.\n\n**Highlights and Innovations:**\n\n* Several papers find a new balance "
            "between quality and efficiency.\n\n**Emerging Directions:**\n\n* Implicit 3D representations and model "
            "compression are rising topics.\n\n**Recommended Reading:**\n\n"
            + "\n".join(f"{n}. Paper {i}: worth a look." for n, i in enumerate(ids[:4], 1))
        )
    return "OK"


class LLMStub:
    """Start with `with LLMStub() as stub:`; `stub.api_base` is what litellm gets."""

    def __init__(self, latency: float = 0.0, max_hang: float = 30.0):
        self.latency = latency
        self.max_hang = max_hang
        self.requests: list[Recorded] = []
        self.queue: list[Reply] = []
        self.rules: list[Rule] = []
        self.pdfs: dict[str, bytes] = {}
        self.pdf_requests: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.hanging = 0  # requests being held unanswered right now
        self._hang_gen = 0

    # -- scripting -------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """The next requests get these replies, in order."""
        with self._lock:
            self.queue.extend(replies)

    def when(self, match: Callable[[dict], bool], reply: Reply, times: int | None = None) -> None:
        """Requests whose JSON body matches get `reply` (`times` times, or always)."""
        with self._lock:
            self.rules.append(Rule(match, reply, times))

    def release_hangs(self) -> None:
        """Let every hung request end (without an answer)."""
        with self._lock:
            self._hang_gen += 1

    def _hang(self) -> None:
        with self._lock:
            gen = self._hang_gen
            self.hanging += 1
        end = time.monotonic() + self.max_hang
        try:
            while time.monotonic() < end and not self._stop.is_set() and self._hang_gen == gen:
                time.sleep(0.02)
        finally:
            with self._lock:
                self.hanging -= 1

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.queue.clear()
            self.rules.clear()
            self.pdf_requests.clear()
            self.max_in_flight = 0

    def chat_requests(self, kind: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if kind is None or kind_of(r.body) == kind]

    def _pick(self, body: dict) -> Reply:
        with self._lock:
            if self.queue:
                return self.queue.pop(0)
            for rule in self.rules:
                if rule.times is not None and rule.times <= 0:
                    continue
                if rule.match(body):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule.reply
        return Reply()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def pdf_url(self, paper_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/pdf/{paper_id}"

    def start(self) -> LLMStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json",
                      retry_after: str | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if status == 429:
                    self.send_header("Retry-After", retry_after or "0")
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:  # noqa: N802
                m = re.match(r"^/pdf/(.+)$", self.path)
                if m:
                    stub.pdf_requests.append(m.group(1))
                    data = stub.pdfs.get(m.group(1))
                    if data is None:
                        self._send(404, b"not found", "text/plain")
                    else:
                        self._send(200, data, "application/pdf")
                    return
                self._send(404, b'{"error": "not found"}')

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                    self._send(404, b'{"error": {"message": "unknown path"}}')
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send(400, b'{"error": {"message": "bad json"}}')
                    return
                rec = Recorded(path=self.path, body=body, at=time.monotonic(),
                               headers={k.lower(): v for k, v in self.headers.items()})
                with stub._lock:
                    stub.requests.append(rec)
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    reply = stub._pick(body)
                    rec.status = reply.status
                    if reply.hang:
                        stub._hang()
                        self.close_connection = True
                        return
                    wait = reply.delay + stub.latency
                    if wait:
                        stub._stop.wait(wait)
                    if reply.body is not None:
                        self._send(reply.status, reply.body)
                        return
                    if reply.status != 200:
                        kind = "rate_limit_exceeded" if reply.status == 429 else "server_error"
                        err = {"error": {"message": f"stub error {reply.status}", "type": kind, "code": kind}}
                        self._send(reply.status, json.dumps(err).encode(), retry_after=reply.retry_after)
                        return
                    content = reply.content if reply.content is not None else default_answer(body)
                    if reply.transform:
                        content = reply.transform(content)
                    pt = reply.prompt_tokens if reply.prompt_tokens is not None else max(1, len(prompt_of(body)) // 4)
                    ct = reply.completion_tokens if reply.completion_tokens is not None else max(1, len(content) // 4)
                    out = {
                        "id": f"chatcmpl-{len(stub.requests)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "stub"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "finish_reason": reply.finish_reason,
                            }
                        ],
                        "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
                    }
                    self._send(200, json.dumps(out, ensure_ascii=False).encode())
                finally:
                    with stub._lock:
                        stub.in_flight -= 1

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 512

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> LLMStub:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# -- a minimal text PDF, for pypdf to read ------------------------------------------------------


def make_pdf(pages: list[list[str]]) -> bytes:
    """A valid PDF whose pages hold the given lines of (Latin-1) text in Helvetica."""
    objs: list[bytes] = []
    n_pages = len(pages)
    font_id = 3 + 2 * n_pages
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    for i, lines in enumerate(pages):
        content_id = 4 + 2 * i
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        ops = ["BT", "/F1 10 Tf", "12 TL", "40 760 Td"]
        for line in lines:
            esc = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({esc}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1", "replace")
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + o + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def paper_pdf(paper_id: str, title: str = "A Paper", n_lines: int = 40) -> bytes:
    """A paper-shaped PDF: abstract, introduction, related work, method, experiments, references."""
    sections = ["Abstract", "1 Introduction", "2 Related Work", "3 Method", "4 Experiments", "5 Conclusion",
                "References"]
    pages = []
    for s in sections:
        lines = [title if s == "Abstract" else "", s]
        for k in range(n_lines):
            lines.append(f"{s.split()[-1]} sentence {k} of paper {paper_id} describes the work in detail.")
        pages.append(lines)
    return make_pdf(pages)


# -- papers and configuration for LLM tests and the benchmark -----------------------------------

TOPICS = [
    ("Diffusion", "video generation with a diffusion transformer"),
    ("Gaussian Splatting", "3D scene reconstruction with Gaussian Splatting"),
    ("Vision-Language", "a multimodal vision-language model for grounding"),
    ("World Model", "a world model learned from robot videos"),
    ("Compression", "efficient compression and distillation of large models"),
]


def make_papers(n: int, stub: LLMStub | None = None, start: int = 1, with_pdf: bool = True) -> list:
    """n synthetic papers that all pass the test profile's keyword prefilter."""
    from datetime import UTC, datetime

    from newsletter.models import Paper

    out = []
    for k in range(start, start + n):
        pid = f"2602.{k:05d}"
        topic, phrase = TOPICS[k % len(TOPICS)]
        title = f"{topic}Net-{k}: Towards Better {phrase.split(' with ')[0].title()}"
        abstract = (
            f"Recent progress in {phrase} is limited by cost and data. "
            f"We propose {topic}Net-{k}, a simple method for {phrase}. "
            "Our key innovation is a lightweight conditioning module that injects structure priors, e.g. depth. "
            f"Experiments show that it improves quality by {k % 9 + 1}.5 points over strong baselines. "
            "We release code and models."
        )
        pdf_url = ""
        if stub is not None and with_pdf:
            pdf_url = stub.pdf_url(pid)
            stub.pdfs[pid] = paper_pdf(pid, title, n_lines=25)
        out.append(Paper(
            id=pid, version=1, title=title, authors=["A. Author", "B. Author"], abstract=abstract,
            categories=["cs.CV"], primary_category="cs.CV", published=datetime(2026, 2, 6, tzinfo=UTC),
            updated=datetime(2026, 2, 6, tzinfo=UTC), pdf_url=pdf_url,
        ))
    return out


def make_config(tmp_path, stub: LLMStub | None = None, model: str = "openai/stub-model", language: str = "zh",
                top_n: int = 10, **llm: object):
    """A Config with one profile 'cv' whose keywords every make_papers paper hits; LLM at the stub."""
    from newsletter.config import Config

    llm_cfg: dict = {"model": model if stub is not None else "", "api_key_env": "NEWSLETTER_TEST_LLM_KEY",
                     "timeout": 5, "max_retries": 2}
    if stub is not None:
        llm_cfg["api_base"] = stub.api_base
    llm_cfg.update(llm)
    return Config.model_validate({
        "store": {"path": str(tmp_path / "var" / "newsletter.db")},
        "llm": llm_cfg,
        "profiles": [{
            "name": "cv", "title": "Arxiv Computer Vision Papers", "categories": ["cs.CV"], "language": language,
            "top_n": top_n,
            "keywords": {
                "primary": ["video generation", "diffusion", "3D", "Gaussian Splatting", "vision-language",
                            "world model", "multimodal"],
                "secondary": ["transformer", "compression", "efficient", "robot", "distillation"],
                "exclude": ["survey"],
            },
        }],
        "base_dir": str(tmp_path),
        "source": str(tmp_path / "config.toml"),
    })
