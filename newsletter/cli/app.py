"""The `newsletter` command: parses options, calls the library, prints. No logic of its own.

Exit codes: 0 ok, 1 the run failed (network, SMTP, cost ceiling...), 2 bad usage or config.
Heavy libraries (litellm, pypdf, mjml, premailer) are imported inside the commands that use them.
"""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from .config import Config, ConfigError, load_config, load_subscribers
from .store import Store, StoreError

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    no_args_is_help=True,
    help="arXiv daily newsletter: fetch, select, analyse, render and mail the day's new papers.",
)

SAMPLE_DAY = date(2026, 2, 9)
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="config file (default: $NEWSLETTER_CONFIG or ./config.toml)")
]
DateOpt = Annotated[str | None, typer.Option("--date", "-d", help="issue date YYYY-MM-DD (default: today)")]


class UsageError(Exception):
    """Bad input on the command line: exit 2."""


def _err(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)


def say(msg: str) -> None:
    from .logs import say as _say_line

    _say_line(msg)


def _setup_logging(verbose: int) -> None:
    from .logs import setup_logging

    setup_logging(verbose)


@app.callback()
def _main(verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="-v info, -vv debug")] = 0) -> None:
    _setup_logging(verbose)


def parse_day(value: str | None, cfg: Config) -> date:
    """The issue date: today in the schedule's timezone by default; never in the future."""
    today = datetime.now(ZoneInfo(cfg.schedule.timezone)).date()
    if value is None:
        return today
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--date {value!r}: not a date; use YYYY-MM-DD, e.g. {today.isoformat()}") from None
    if day > today:
        raise UsageError(f"--date {value}: is in the future (today is {today.isoformat()} in {cfg.schedule.timezone})")
    return day


@contextmanager
def opened(config: Path | None, subscribers: bool = False, lock: str | None = None):
    """Config (and subscriber files) validated, then the store; or a one-line error and exit 2.
    With `lock`, the run lock is held (or LockHeld: exit 1) and SIGTERM/SIGINT stop gracefully."""
    from .logs import attach_file

    cfg = load_config(config)
    attach_file(cfg)
    if subscribers:
        load_subscribers(cfg)
    with _exclusive(cfg, lock):
        store = Store.open(cfg.store_path)
        try:
            yield cfg, store
        finally:
            store.close()


@contextmanager
def _exclusive(cfg: Config, command: str | None):
    """One run at a time (`run`, `send`, scheduled jobs); a signal finishes the message in flight."""
    if command is None:
        yield
        return
    from . import shutdown
    from .lock import hold, run_lock_path

    shutdown.reset()
    with shutdown.graceful(), hold(run_lock_path(cfg.var_dir), f"newsletter {command}"):
        yield
    if shutdown.stop_requested():
        say(f"stopped on request ({shutdown.stop_reason()}); the ledger is consistent and what is still "
            "pending goes out on the next run")


@app.command()
def run(
    config: ConfigOpt = None,
    date_: DateOpt = None,
    demo: Annotated[bool, typer.Option("--demo", help="use the bundled sample day (2026-02-09) instead of arXiv")] = False,
    until: Annotated[
        str, typer.Option("--until", help="stop after this stage: fetch | select | analyze | render | deliver")
    ] = "deliver",
    profile: Annotated[list[str] | None, typer.Option("--profile", "-p", help="only this profile (repeatable)")] = None,
) -> None:
    """Make the day's issue: fetch, select, analyse, render and deliver (each step only once)."""
    from .pipeline import STAGES, run_day

    if until not in STAGES:
        raise UsageError(f"--until {until!r}: use one of {' | '.join(STAGES)}")
    with opened(config, subscribers=True, lock="run") as (cfg, store):
        for name in profile or []:
            cfg.profile(name)
        day = parse_day(date_, cfg) if (date_ or not demo) else SAMPLE_DAY
        store.check_writable()
        if demo:
            from .sample.server import serve_sample

            with serve_sample() as base_url:
                cfg.arxiv.base_url = base_url
                cfg.arxiv.delay_seconds = min(cfg.arxiv.delay_seconds, 0.5)
                report = run_day(store, cfg, day, until=until, profiles=profile, progress=say)
        else:
            report = run_day(store, cfg, day, until=until, profiles=profile, progress=say)
        _print_day(cfg, report, until)


def _print_day(cfg: Config, report, until: str) -> None:
    sent_now = 0
    for name, info in report.editions.items():
        d = dict(info.get("deliveries") or {})
        now = d.pop("sent_now", 0)
        sent_now += now
        line = f"{name}: {info['papers']} papers, {info['status']}"
        if d:
            line += "; deliveries: " + ", ".join(f"{k} {v}" for k, v in sorted(d.items()) if v) + f" ({now} now)"
        typer.echo(line)
    if report.cost:
        typer.echo(f"LLM cost this run: ${report.cost:.4f}")
    if until != "deliver" or not report.editions:
        return
    if sent_now == 0 and any(i.get("deliveries") for i in report.editions.values()):
        typer.echo("nothing new to send: every subscriber already has this issue")
    if not cfg.smtp.host:
        typer.echo(f"messages: {cfg.resolve(cfg.smtp.outbox)}/ (embedded SMTP sink, one .eml per message)")
    typer.echo(f"preview:  {_prog()} preview --date {report.day.isoformat()}")


def _prog() -> str:
    """How the user can call us again: `newsletter` when on PATH, else the path they used (.venv/bin/...)."""
    import os
    import shutil

    exe = sys.argv[0]
    if shutil.which("newsletter") and Path(shutil.which("newsletter")).resolve() == Path(exe).resolve():
        return "newsletter"
    return os.path.relpath(exe) if os.path.isabs(exe) else exe


@app.command()
def send(config: ConfigOpt = None, date_: DateOpt = None) -> None:
    """Deliver the day's rendered editions to whoever has not received them yet."""
    from .pipeline import send_day

    with opened(config, subscribers=True, lock="send") as (cfg, store):
        day = parse_day(date_, cfg)
        store.check_writable()
        from .deliver import TerminalProgress

        progress = TerminalProgress(say)
        try:
            out = send_day(store, cfg, day, progress=progress)
        finally:
            progress.close()
        if not out:
            typer.echo(f"no rendered edition for {day}; run `newsletter run --date {day}` first")
            raise typer.Exit(1)
        for name, counts in out.items():
            typer.echo(f"{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


@app.command()
def status(config: ConfigOpt = None) -> None:
    """What happened and what is next: scheduler, last runs (stage, counts, cost, errors), editions,
    deliveries pending/deferred/failed, and the next scheduled run."""
    from .ops import status_lines

    with opened(config) as (cfg, store):
        for line in status_lines(cfg, store):
            typer.echo(line)


@app.command()
def schedule(
    config: ConfigOpt = None,
    catch_up: Annotated[bool, typer.Option("--catch-up/--no-catch-up", help="run at once if today's run was missed")] = True,
) -> None:
    """Run in the foreground, making each issue on the configured cron; SIGTERM/SIGINT stop cleanly (exit 0)."""
    from .logs import attach_file, set_stderr_level
    from .schedule import serve

    cfg = load_config(config)
    load_subscribers(cfg)
    attach_file(cfg)
    set_stderr_level(logging.INFO)
    raise typer.Exit(serve(cfg, catch_up=catch_up))


@app.command()
def history(
    query: Annotated[str, typer.Argument(help="an arXiv id (2602.06959) or words from a title or abstract")] = "",
    config: ConfigOpt = None,
    profile: Annotated[str | None, typer.Option("--profile", "-p", help="only this profile")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="at most this many editions")] = 20,
) -> None:
    """Past editions and the papers they featured, newest first; search by paper id or words."""
    from .ops import history_lines

    with opened(config) as (cfg, store):
        if profile:
            cfg.profile(profile)
        for line in history_lines(store, query, profile, limit):
            typer.echo(line)


@app.command()
def doctor(config: ConfigOpt = None) -> None:
    """Check config, store, SMTP (and AUTH), the LLM and arXiv: one line each with the fix; exit 1 if any fail."""
    from .ops import doctor as run_checks

    checks = run_checks(config, emit=typer.echo)
    failed = [c.name for c in checks if c.state == "fail"]
    if failed:
        typer.echo(f"{len(failed)} check(s) failed: {', '.join(failed)}")
        raise typer.Exit(1)
    typer.echo("all checks passed" + (" (some skipped)" if any(c.state == "skip" for c in checks) else ""))


@app.command()
def preview(
    config: ConfigOpt = None,
    date_: DateOpt = None,
    profile: Annotated[str | None, typer.Option("--profile", "-p", help="open this profile's edition")] = None,
    no_open: Annotated[bool, typer.Option("--no-open", help="do not open a browser")] = False,
    as_email: Annotated[
        str | None, typer.Option("--as", help="show this subscriber's exact message (name, unsubscribe link)")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="port on 127.0.0.1 (default: [web] port; 0 = any)")] = None,
) -> None:
    """Serve the archive on 127.0.0.1: every edition as subscribers see it, with text part and Markdown."""
    from .preview import PreviewError
    from .preview import serve as serve_preview

    with opened(config) as (cfg, store):
        day = parse_day(date_, cfg) if date_ else None
        if profile is not None:
            cfg.profile(profile)
        try:
            serve_preview(
                store, cfg, port=cfg.web.port if port is None else port, open_browser=not no_open,
                as_email=as_email, day=day, profile=profile,
                ready=lambda url: typer.echo(f"preview: {url}  (Ctrl-C to stop)"),
            )
        except PreviewError as e:
            raise UsageError(str(e)) from None
        except OSError as e:
            raise UsageError(f"--port: cannot listen on 127.0.0.1 ({e.strerror}); pick another with --port") from None


# -- subscribers and the public web server (newsletter/subscribers.py, newsletter/serve.py) ------------

subscribers_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Edit subscribers/*.toml (comments kept) and suppressions."
)
app.add_typer(subscribers_app, name="subscribers")
ProfilesOpt = Annotated[list[str] | None, typer.Option("--profile", "-p", help="profile to receive (repeatable)")]
FileOpt = Annotated[str | None, typer.Option("--file", "-f", help="file in subscribers/ for new entries")]


@contextmanager
def _subscriber_errors():
    from .subscribers import SubscriberError

    try:
        yield
    except SubscriberError as e:
        raise UsageError(str(e)) from None


@subscribers_app.command("add")
def subscribers_add(
    email: str, name: Annotated[str, typer.Option("--name", "-n", help="shown in the greeting")] = "",
    profile: ProfilesOpt = None, file: FileOpt = None, config: ConfigOpt = None,
) -> None:
    """Add an address (or merge profiles/name into its existing entry)."""
    from .subscribers import add_subscriber

    cfg = load_config(config)
    with _subscriber_errors():
        r = add_subscriber(cfg, email, name, profile, file)
    verb = "added" if r.added else "updated" if r.merged else "already subscribed:"
    typer.echo(f"{verb} {(r.added or r.merged or r.unchanged)[0]}")


@subscribers_app.command("remove")
def subscribers_remove(email: str, config: ConfigOpt = None) -> None:
    """Delete an address from the subscriber files (use `unsubscribe` to keep it suppressed)."""
    from .subscribers import remove_subscriber

    cfg = load_config(config)
    with _subscriber_errors():
        files = remove_subscriber(cfg, email)
    typer.echo(f"removed {email} from {', '.join(f.name for f in files)}")


@subscribers_app.command("list")
def subscribers_list(config: ConfigOpt = None) -> None:
    """Every subscriber, their profiles, and whether mail to them is suppressed."""
    from .subscribers import list_subscribers

    with opened(config) as (cfg, store):
        rows = list_subscribers(cfg, store)
        for s, why in rows:
            flag = f"  [suppressed: {why}]" if why else ""
            typer.echo(f"{s.email}\t{s.name}\t{','.join(s.profiles)}\t{Path(s.source).name}{flag}")
        typer.echo(f"{len(rows)} subscribers, {sum(1 for _, w in rows if w)} suppressed", err=True)


@subscribers_app.command("import")
def subscribers_import(
    csv_file: Annotated[Path, typer.Argument(help="CSV: email[,name[,profiles]]; a header row is recognised")],
    profile: ProfilesOpt = None, file: FileOpt = None, config: ConfigOpt = None,
) -> None:
    """Add many addresses from a CSV file; every refused row is explained on its own line."""
    from .subscribers import import_csv

    cfg = load_config(config)
    with _subscriber_errors():
        r = import_csv(cfg, csv_file, profile, file)
    for line in r.refused:
        _err(line)
    typer.echo(f"{len(r.added)} added, {len(r.merged)} merged, {len(r.unchanged)} unchanged, "
               f"{len(r.refused)} refused")
    if r.refused and not (r.added or r.merged or r.unchanged):
        raise typer.Exit(2)


@subscribers_app.command("unsubscribe")
def subscribers_unsubscribe(
    email: str, remove: Annotated[bool, typer.Option("--remove", help="also delete it from the files")] = False,
    config: ConfigOpt = None,
) -> None:
    """Suppress an address: no send mails it again, whatever the files say."""
    from .subscribers import unsubscribe

    with opened(config) as (cfg, store), _subscriber_errors():
        address = unsubscribe(store, cfg, email, remove=remove)
    typer.echo(f"unsubscribed {address}")


@subscribers_app.command("resubscribe")
def subscribers_resubscribe(email: str, config: ConfigOpt = None) -> None:
    """Lift a suppression (only when the reader asks for it)."""
    from .subscribers import resubscribe

    with opened(config) as (cfg, store):
        lifted = resubscribe(store, email)
    typer.echo(f"resubscribed {email}" if lifted else f"{email} was not suppressed")


@app.command("serve")
def serve_cmd(
    config: ConfigOpt = None,
    port: Annotated[int | None, typer.Option("--port", help="port on 127.0.0.1 (default: [web] port)")] = None,
) -> None:
    """The site behind [web] public_url: archive pages and one-click unsubscribe (127.0.0.1 only)."""
    from .serve import serve

    with opened(config) as (cfg, store):
        if not cfg.web.public_url:
            say("note: [web] public_url is empty, so sent mail carries no https unsubscribe link")
        try:
            serve(store, cfg, port, ready=lambda url: typer.echo(f"serving {url}  (Ctrl-C to stop)"))
        except OSError as e:
            raise UsageError(f"--port: cannot listen on 127.0.0.1 ({e.strerror}); pick another with --port") from None


def main() -> None:
    """Entry point: turns known errors into one line and an exit code, never a traceback."""
    try:
        app()  # click itself turns usage errors into a message and exit 2
    except (ConfigError, StoreError, UsageError) as e:
        _err(str(e))
        sys.exit(2)
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)
    except Exception as e:
        from .pipeline import PipelineError

        if isinstance(e, (PipelineError, *_known_run_errors())):
            _err(str(e))
            sys.exit(1)
        raise


def _known_run_errors() -> tuple[type[BaseException], ...]:
    """Run failures defined by stage modules, looked up only when something failed."""
    out: list[type[BaseException]] = []
    for mod, name in (
        ("newsletter.deliver", "DeliveryError"),
        ("newsletter.llm", "CostCeilingReached"),
        ("newsletter.sources.arxiv", "ArxivError"),
        ("newsletter.lock", "LockHeld"),
    ):
        m = sys.modules.get(mod)
        if m is not None and hasattr(m, name):
            out.append(getattr(m, name))
    return tuple(out)


if __name__ == "__main__":
    main()
