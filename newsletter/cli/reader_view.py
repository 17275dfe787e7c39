"""How `subscribers show` draws one reader: their entry, what is suppressed, their votes, their issues.

rich tables without borders: colours on a terminal, plain aligned text in a pipe (120 columns
there, so titles are not folded). Every value from a file or the store is shown as text, never
read as rich markup.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..preferences import ReaderReport
from ..wording import plural

VOTES = {1: ("+1 more like this", "green"), -1: ("-1 less like this", "red")}
STATUS_STYLE = {"sent": "green", "failed": "red", "deferred": "yellow", "pending": "yellow", "sending": "yellow",
                "suppressed": "red", "not sent": "dim"}


def _where(path: str) -> str:
    """The file as the user would type it: relative to the current folder when inside it."""
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else str(Path(path))


def _when(iso: str) -> str:
    """'2026-02-09T10:03:00+00:00' -> '2026-02-09 10:03' (UTC, as the store keeps it)."""
    return f"{iso[:10]} {iso[11:16]}" if len(iso) >= 16 else iso


def _none(text: str) -> Text:
    return Text(text) if text else Text("-", style="dim")


def _entry(r: ReaderReport) -> Table:
    s = r.subscriber
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    t.add_row("file", Text(_where(s.source)))
    t.add_row("lists", Text(", ".join(f"{p.name} ({p.title}, {p.language})" for p in r.lists)))
    t.add_row("language", Text(r.language + ("" if s.language else " (from the lists)")))
    t.add_row("mail", Text(f"suppressed: {r.suppression}", style="red") if r.suppression
              else Text("goes out", style="green"))
    for s_row in r.suppressions:
        t.add_row("", Text(f"{s_row['reason']}" + (f" from {s_row['list']}" if s_row["list"] else " (every list)")
                           + f", {_when(str(s_row['at']))}: {s_row['detail'] or '-'}", style="dim"))
    t.add_row("frequency", Text(r.frequency_text))
    t.add_row("max papers", Text(r.max_papers_text))
    t.add_row("interests", _none(s.interests))
    t.add_row("keywords", _none(", ".join(s.keywords)))
    t.add_row("authors", _none("; ".join(s.authors)))
    if not s.personal:
        t.add_row("", Text("no interests, keywords or authors: gets the list's own selection", style="dim"))
    return t


def _votes(r: ReaderReport) -> Table:
    t = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, header_style="bold")
    for name in ("when (UTC)", "vote", "paper", "list", "title"):
        t.add_column(name, no_wrap=name != "title")
    for v in r.votes:
        words, style = VOTES[1 if v["vote"] > 0 else -1]
        t.add_row(_when(str(v["at"])), Text(words, style=style), Text(v["paper_id"]), Text(v["profile"] or ""),
                  _none(v["title"]))
    return t


def _issues(r: ReaderReport) -> Table:
    t = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, header_style="bold")
    for name in ("date", "list", "cadence", "papers", "delivery"):
        t.add_column(name, no_wrap=True, justify="right" if name == "papers" else "left")
    for i in r.issues:
        status = str(i["status"])
        t.add_row(str(i["date"]), Text(i["profile"]), str(i["cadence"] or "daily"), str(i["papers"]),
                  Text(status, style=STATUS_STYLE.get(status, "")))
    return t


KINDS = {"hard_bounce": ("hard bounce", "red"), "soft_bounce": ("soft bounce", "yellow"),
         "complaint": ("spam complaint", "red"), "unsubscribe": ("mailto unsubscribe", "yellow")}


def _returns(r: ReaderReport) -> Table:
    t = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, header_style="bold")
    for name in ("when (UTC)", "what", "issue", "status", "what the server said"):
        t.add_column(name, no_wrap=name != "what the server said")
    for e in r.returns:
        words, style = KINDS.get(e["kind"], (e["kind"], ""))
        issue = f"{e['date']} {e['profile']}" if e.get("date") else "-"
        t.add_row(_when(str(e["at"])), Text(words, style=style), Text(issue), Text(e["status"] or "-"),
                  _none(e["diagnostic"] or ""))
    return t


def _emit(console: Console, *items: object) -> None:
    """Print; in a pipe without the padding rich adds at the end of table lines."""
    if console.is_terminal:
        console.print(*items)
        return
    with console.capture() as cap:
        console.print(*items)
    console.file.write("".join(line.rstrip() + "\n" for line in cap.get().splitlines()))


def draw_reader(r: ReaderReport, console: Console | None = None) -> None:
    """Print the report: the entry, then 'Feedback' and 'Last issues' (each says when there is none)."""
    console = console or Console(highlight=False)
    if not console.is_terminal:
        console.width = 120
    s = r.subscriber
    head = Text()
    head.append(s.name or s.email, style="bold")
    if s.name:
        head.append(f" <{s.email}>")
    _emit(console, head)
    _emit(console, _entry(r))
    _emit(console)
    if r.votes:
        _emit(console, Text(f"Feedback: {plural(len(r.votes), 'vote')}", style="bold"))
        _emit(console, _votes(r))
    else:
        _emit(console, Text("Feedback: none yet", style="bold"),
              Text("(votes come from the 'more / less like this' links in each issue)", style="dim"))
    _emit(console)
    if r.returns:
        _emit(console, Text(f"Mail that came back: {plural(len(r.returns), 'event')}", style="bold"))
        _emit(console, _returns(r))
    else:
        _emit(console, Text("Mail that came back: none", style="bold"),
              Text("(bounces, spam complaints and mailto unsubscribes read by `newsletter mailbox`)", style="dim"))
    _emit(console)
    if r.issues:
        _emit(console, Text(f"Last issues ({len(r.issues)}, newest first)", style="bold"))
        _emit(console, _issues(r))
    else:
        _emit(console, Text("Last issues: none yet", style="bold"))
