"""Plain data passed between stages; the store turns them into rows and back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

ANALYSIS_KINDS = ("fulltext", "abstract", "extractive")
DELIVERY_STATES = ("pending", "sending", "sent", "deferred", "failed", "suppressed")


@dataclass
class Paper:
    id: str  # without version, e.g. "2602.06959": the key everywhere
    version: int
    title: str
    authors: list[str]
    abstract: str
    categories: list[str]
    primary_category: str
    published: datetime
    updated: datetime
    pdf_url: str
    comment: str = ""

    @property
    def versioned_id(self) -> str:
        return f"{self.id}v{self.version}"

    @property
    def abs_url(self) -> str:
        return f"https://arxiv.org/abs/{self.versioned_id}"


@dataclass
class Score:
    paper_id: str
    profile: str
    relevance: int
    significance: int
    reason: str = ""
    model: str = "keywords"
    prompt_hash: str = ""

    @property
    def total(self) -> int:
        return self.relevance + self.significance


@dataclass
class Analysis:
    paper_id: str
    language: str
    kind: str  # one of ANALYSIS_KINDS
    text: str
    key_findings: list[str] = field(default_factory=list)
    model: str = ""
    version: int = 1
    checks: dict = field(default_factory=dict)


@dataclass
class EditionEntry:
    """One paper as it appears in an edition: the paper, its rank and its analysis."""

    paper: Paper
    rank: int
    analysis: Analysis | None = None
    score: Score | None = None
    # verbatim text of a parsed report (title, authors, abstract, key findings), so a report re-renders
    # as it was read; the Markdown renderer uses a fragment only while it still says what the fields say
    source: dict[str, str] = field(default_factory=dict)


@dataclass
class Attachment:
    """A file that travels with every message of an edition (the full report of a shortened email)."""

    filename: str
    mimetype: str  # e.g. text/html
    data: bytes


@dataclass
class Edition:
    date: date
    profile: str
    language: str
    title: str
    summary: str = ""
    entries: list[EditionEntry] = field(default_factory=list)
    markdown: str = ""
    html: str = ""
    text: str = ""
    status: str = "selected"  # selected | analyzed | rendered | sent | empty | failed
    id: int | None = None
    attachments: list[Attachment] = field(default_factory=list)
    cadence: str = "daily"  # daily | weekly (a weekly edition is dated on its [schedule] weekly_day)
    # the marked-up render every reader's issue is assembled from (newsletter.assembly; JSON)
    parts: str = ""


@dataclass
class Subscriber:
    email: str
    name: str = ""
    profiles: list[str] = field(default_factory=list)
    language: str | None = None
    source: str = ""  # the subscribers/*.toml file it came from
    interests: str = ""  # free text the reader's ranking is embedded from
    keywords: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)  # a paper by one of them is always included
    frequency: str = "daily"  # daily | weekly
    max_papers: int | None = None  # None: the profile's top_n

    @property
    def personal(self) -> bool:
        """Has preferences of their own (else they get the profile's own selection)."""
        return bool(self.interests.strip() or self.keywords or self.authors)


@dataclass
class Delivery:
    edition_id: int
    email: str
    status: str
    message_id: str
    attempts: int = 0
    last_error: str = ""
    name: str = ""
