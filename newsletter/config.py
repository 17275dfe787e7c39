"""Load and validate config.toml and subscribers/*.toml into typed objects.

Every mistake becomes one ConfigError line that names the file, the key and the fix, so the
CLI can print it and exit 2 instead of showing a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError

DEFAULT_CONFIG = "config.toml"
CATEGORY_RE = re.compile(r"^[a-z\-]+(\.[A-Za-z\-]+)?$")
# arXiv's archives; a category is ARCHIVE or ARCHIVE.SUB (e.g. cs.CV, math.AG, hep-th, stat.ML).
# Where the subject classes are listed, only those are accepted (a typo would fetch nothing, silently).
ARCHIVES: dict[str, set[str] | None] = {
    "cs": set(
        "AI AR CC CE CG CL CR CV CY DB DC DL DM DS ET FL GL GR GT HC IR IT LG LO MA MM MS NA NE NI OH OS PF PL "
        "RO SC SD SE SI SY".split()
    ),
    "stat": set("AP CO ME ML OT TH".split()),
    "eess": set("AS IV SP SY".split()),
    "econ": set("EM GN TH".split()),
    "math": set(
        "AC AG AP AT CA CO CT CV DG DS FA GM GN GR GT HO IT KT LO MG MP NA NT OA OC PR QA RA RT SG SP ST".split()
    ),
    "q-bio": set("BM CB GN MN NC OT PE QM SC TO".split()),
    "q-fin": set("CP EC GN MF PM PR RM ST TR".split()),
    **{a: None for a in ("astro-ph", "cond-mat", "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math-ph",
                         "nlin", "nucl-ex", "nucl-th", "physics", "quant-ph")},
}


def known_category(c: str) -> bool:
    if not CATEGORY_RE.match(c):
        return False
    archive, _, sub = c.partition(".")
    if archive not in ARCHIVES:
        return False
    subs = ARCHIVES[archive]
    return subs is None or (sub in subs) or (not sub and archive not in ("cs", "stat", "eess", "econ"))


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Keywords(StrictModel):
    primary: list[str] = []
    secondary: list[str] = []
    exclude: list[str] = []


class Profile(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str = "Arxiv Papers"
    categories: list[str] = Field(min_length=1)
    keywords: Keywords = Keywords()
    language: Literal["zh", "en"] = "en"
    top_n: int = Field(default=10, ge=1, le=100)
    cross_lists: bool = True  # also papers cross-listed into these categories, not only primary ones

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, v: list[str]) -> list[str]:
        for c in v:
            if not known_category(c):
                raise ValueError(f"unknown arXiv category {c!r} (use e.g. cs.CV, cs.LG, stat.ML)")
        return v


class ArxivConfig(StrictModel):
    base_url: str = "https://export.arxiv.org/api/query"
    page_size: int = Field(default=2000, ge=1, le=2000)
    delay_seconds: float = Field(default=3.0, ge=0)
    num_retries: int = Field(default=4, ge=0, le=10)
    timeout: float = Field(default=60, gt=0)
    max_window_days: int = Field(default=7, ge=1, le=30)
    # an announcement day whose fetch comes back empty is asked again (arXiv's API can lag behind
    # the announcement) every `empty_retry_minutes` for up to `empty_retry_hours` before it counts as empty
    empty_retry_minutes: float = Field(default=20, ge=0.01)
    empty_retry_hours: float = Field(default=3, ge=0, le=24)


class LLMConfig(StrictModel):
    model: str = ""  # empty: the extractive analyzer, no LLM at all
    fallback_models: list[str] = []
    api_base: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(default=8, ge=1, le=256)
    timeout: float = Field(default=120, gt=0)
    max_retries: int = Field(default=4, ge=0, le=20)
    max_cost_usd: float = Field(default=5.0, ge=0)
    batch_size: int = Field(default=10, ge=1, le=100)
    min_score: int = Field(default=4, ge=2, le=6)
    max_input_tokens: int = Field(default=24000, ge=1000)
    pdf_concurrency: int = Field(default=2, ge=1, le=16)
    # when the model refuses every call (bad key, unknown model): "stop" the run and mail nothing,
    # or go on with "extractive" analyses, said at the top of the issue
    on_failure: Literal["stop", "extractive"] = "stop"
    # distinct papers analysed per day and language across every reader's picks: the first
    # `fulltext_per_day` get the full-text ladder, the next `abstract_per_day` the abstract
    # route, the rest the extractive analysis (no LLM); labelled as such in the issue
    fulltext_per_day: int = Field(default=40, ge=0, le=10_000)
    abstract_per_day: int = Field(default=100, ge=0, le=10_000)

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None


class SMTPConfig(StrictModel):
    host: str = ""  # empty: the embedded sink writes .eml files to var/outbox/
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    password_env: str = "NEWSLETTER_SMTP_PASSWORD"
    from_: str = Field(default="arXiv Daily <newsletter@localhost>", alias="from")
    reply_to: str = ""
    ca_file: str = ""  # an extra CA bundle to trust (tests use their own); verification stays on
    pool_size: int = Field(default=4, ge=1, le=64)
    rate_per_second: float = Field(default=0, ge=0)  # 0: no limit
    timeout: float = Field(default=30, gt=0)
    outbox: str = "var/outbox"

    def password(self) -> str | None:
        return os.environ.get(self.password_env) or None


class MailboxConfig(StrictModel):
    """The mailbox the mail that comes back is read from (bounces, complaints, mailto unsubscribes)."""

    host: str = ""  # empty: no mailbox is read (and no VERP)
    port: int = Field(default=143, ge=1, le=65535)
    security: Literal["starttls", "ssl"] = "starttls"  # certificates are always verified
    ca_file: str = ""  # an extra CA to trust (a private server); verification stays on
    username: str = ""
    password_env: str = "NEWSLETTER_MAILBOX_PASSWORD"
    folder: str = "INBOX"
    processed_folder: str = ""  # move what was read here; "" = leave it, flagged $NewsletterProcessed
    timeout: float = Field(default=30, gt=0)
    # the envelope sender (Return-Path), where bounces go; "" = the [smtp] from address. With `verp`
    # each message's is local+TOKEN@domain (the server must deliver plus-addresses to local@domain)
    bounce_address: str = ""
    verp: bool = True
    # the List-Unsubscribe mailto: address; "" = the [smtp] from address
    unsubscribe_address: str = ""
    soft_bounce_limit: int = Field(default=3, ge=1, le=100)  # this many soft bounces...
    soft_bounce_days: int = Field(default=14, ge=1, le=365)  # ...within this many days suppress the address

    def password(self) -> str | None:
        return os.environ.get(self.password_env) or None


class DKIMConfig(StrictModel):
    """DKIM signing: on when domain, selector and a private key (file or environment variable) are set."""

    domain: str = ""
    selector: str = ""
    private_key_file: str = ""  # a PEM RSA key
    private_key_env: str = ""  # or: the variable holding the PEM key

    @property
    def enabled(self) -> bool:
        return bool(self.domain and self.selector and (self.private_key_file or self.private_key_env))


class StoreConfig(StrictModel):
    path: str = "var/newsletter.db"


class ScheduleConfig(StrictModel):
    # Sunday-Thursday 20:00 US Eastern announcements reach Asia on Monday-Friday mornings.
    cron: str = "30 9 * * mon-fri"
    timezone: str = "Asia/Shanghai"
    misfire_grace_seconds: int = Field(default=6 * 3600, ge=1)
    # weekly readers get their issue on the first run on or after this day of each week
    weekly_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "fri"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r} (use an IANA name such as Asia/Shanghai)") from None
        return v

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        from .cron import crontab_trigger  # crontab weekday numbers (0 = Sunday), unlike APScheduler 3

        try:
            crontab_trigger(v)
        except ValueError as e:
            raise ValueError(f"bad cron expression {v!r}: {e} (five fields: minute hour day month weekday)") from None
        return v


class WebConfig(StrictModel):
    public_url: str = ""
    # where the published archive (`newsletter publish`) is served when not at public_url, e.g.
    # GitHub Pages while `serve` answers unsubscribe and feedback links elsewhere; "" = public_url
    archive_url: str = ""
    # `newsletter schedule` publishes the archive here after each run; `publish` writes here by default
    publish_dir: str = ""
    # the address `serve` binds: loopback unless set here explicitly (`preview` always binds 127.0.0.1)
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    unsubscribe_secret_env: str = "NEWSLETTER_UNSUBSCRIBE_SECRET"
    threads: int = Field(default=8, ge=1, le=256)  # `serve`'s worker threads (requests being answered at once)
    # proxies whose X-Forwarded-For / X-Forwarded-Proto are believed and whose connections are not
    # capped per client: addresses or networks (CIDR); by default a proxy on this machine
    trusted_proxies: list[str] = ["127.0.0.1", "::1"]
    client_timeout: float = Field(default=15, ge=1, le=600)  # seconds a silent connection is kept
    connections_per_client: int = Field(default=20, ge=1, le=10_000)  # open at once from one address
    max_connections: int = Field(default=500, ge=10, le=100_000)  # open at once in all
    access_log: str = "var/logs/access.log"  # one line per request; "-" = standard output, "" = none

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        try:
            return str(ipaddress.ip_address(v.strip("[]")))
        except ValueError:
            raise ValueError(f"host {v!r} must be an IP address, e.g. 127.0.0.1 (the default), ::1 or "
                             "0.0.0.0 (every interface: only with a firewall or a proxy in front)") from None

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: list[str]) -> list[str]:
        for item in v:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {item!r} is not an IP address or network "
                                 "(e.g. \"127.0.0.1\" or \"10.0.0.0/8\")") from None
        return v

    @field_validator("public_url", "archive_url")
    @classmethod
    def _url(cls, v: str, info) -> str:
        if v and not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"{info.field_name} {v!r} must start with https:// (or http://)")
        return v.rstrip("/")

    @property
    def site_url(self) -> str:
        """The published archive's base URL (archive_url, else public_url), or "" when unknown."""
        return self.archive_url or self.public_url


class RenderConfig(StrictModel):
    # the complete report a shortened email carries when [web] public_url/archive_url is unset (with it, the
    # email links to the archive page and attaches nothing): one file, or none
    attach: Literal["html", "markdown", "none"] = "html"


class Config(StrictModel):
    store: StoreConfig = StoreConfig()
    arxiv: ArxivConfig = ArxivConfig()
    llm: LLMConfig = LLMConfig()
    smtp: SMTPConfig = SMTPConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    web: WebConfig = WebConfig()
    render: RenderConfig = RenderConfig()
    mailbox: MailboxConfig = MailboxConfig()
    dkim: DKIMConfig = DKIMConfig()
    subscribers_dir: str = "subscribers"
    # a folder of template overrides looked up before the package's own (see newsletter.templating)
    templates_dir: str = "templates"
    profiles: list[Profile] = Field(min_length=1)
    # where it was read from; relative paths in it are relative to this folder
    base_dir: Path = Path(".")
    source: str = ""

    @model_validator(mode="after")
    def _unique_profiles(self) -> Config:
        names = [p.name for p in self.profiles]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"profile name {sorted(dup)[0]!r} is used twice; give each [[profiles]] its own name")
        return self

    def profile(self, name: str) -> Profile:
        for p in self.profiles:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.profiles)
        raise ConfigError(f"{self.source}: unknown profile {name!r}; known profiles: {known}")

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.base_dir / p

    @property
    def store_path(self) -> Path:
        return self.resolve(self.store.path)

    @property
    def var_dir(self) -> Path:
        return self.store_path.parent


def demo_config(cfg: Config, base_url: str) -> Config:
    """The config `--demo` runs with, whatever config.toml says: the sample day's server, the
    embedded sink (never a real SMTP relay), no LLM, no public site, and a store of its own, so
    a demo can never mail real readers or touch the real history."""
    demo = cfg.model_copy(deep=True)
    demo.arxiv.base_url = base_url
    demo.arxiv.delay_seconds = min(demo.arxiv.delay_seconds, 0.5)
    demo.arxiv.empty_retry_hours = 0
    demo.llm.model = ""
    demo.smtp = SMTPConfig(outbox=str(cfg.var_dir / "demo-outbox"))
    demo.web.public_url = ""
    demo.web.archive_url = ""
    demo.web.publish_dir = ""
    demo.mailbox = MailboxConfig()  # the demo reads no mailbox and uses no VERP
    demo.store.path = str(cfg.var_dir / "demo.db")
    return demo


def _loc(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """Turn pydantic's location into the TOML spelling: [smtp].port, [[profiles]] #2 (cv).categories."""
    parts: list[str] = []
    i = 0
    while i < len(loc):
        item = loc[i]
        if item == "profiles" and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            idx = loc[i + 1]
            name = ""
            try:
                name = f" ({data['profiles'][idx]['name']})"
            except (KeyError, IndexError, TypeError):
                pass
            parts.append(f"[[profiles]] #{idx + 1}{name}")
            i += 2
            continue
        parts.append(f"[{item}]" if i == 0 and len(loc) > 1 else str(item))
        i += 1
    return ".".join(parts).replace("].", "].", 1)


def _one_line(e: ValidationError, source: str, data: dict[str, Any]) -> str:
    err = e.errors()[0]
    where = _loc(tuple(err["loc"]), data) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key; check its spelling against the shipped config.toml"
    elif err["type"] == "missing":
        msg = "required key is missing"
    more = f" (and {len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
    return f"{source}: {where}: {msg}{more}"


def config_path(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get("NEWSLETTER_CONFIG") or DEFAULT_CONFIG)


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate; `path` wins over $NEWSLETTER_CONFIG, which wins over ./config.toml."""
    p = config_path(path)
    if not p.is_file():
        raise ConfigError(
            f"{p}: config file not found; run from the project folder, or pass --config PATH "
            "or set NEWSLETTER_CONFIG"
        )
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML ({e}); fix the syntax at that line") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read the file ({e})") from None
    for forbidden in ("password", "api_key", "secret", "private_key"):
        for section in ("smtp", "llm", "web", "mailbox", "dkim"):
            if isinstance(data.get(section), dict) and forbidden in data[section]:
                raise ConfigError(
                    f"{p}: [{section}].{forbidden}: secrets never go in files; "
                    f"set it in an environment variable named by [{section}].{forbidden}_env"
                )
    try:
        cfg = Config.model_validate({**data, "base_dir": p.resolve().parent, "source": str(p)})
    except ValidationError as e:
        raise ConfigError(_one_line(e, str(p), data)) from None
    return cfg
