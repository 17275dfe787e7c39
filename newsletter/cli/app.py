"""The `newsletter` command: parses options, calls the library, prints. No logic of its own.

Exit codes (one place, `main`): 0 ok, 1 the run failed (network, SMTP, cost ceiling...),
2 bad usage or config. Heavy libraries (litellm, pypdf, mjml, premailer) are imported inside
the commands that use them, so `--help` stays fast.
"""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from .. import __version__
from ..errors import NewsletterError, UsageError
from ..roster import load_subscribers
from .common import ConfigOpt, DateOpt, again, config_arg, get_config, opened, parse_day, set_global_config
from .output import ProgressView, plural

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    no_args_is_help=True,
    help="arXiv daily newsletter: fetch, select, analyse, render and mail the day's new papers.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"newsletter {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="-v info, -vv debug")] = 0,
    config: ConfigOpt = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    from ..ops.logs import setup_logging

    setup_logging(verbose)
    set_global_config(config)


@app.command()
def run(
    config: ConfigOpt = None,
    date_: DateOpt = None,
    demo: Annotated[bool, typer.Option("--demo", help="the bundled sample day (2026-02-09) into the embedded "
                                       "sink, no LLM, its own store: never mails anyone")] = False,
    until: Annotated[
        str, typer.Option("--until", metavar="STAGE", help="stop after this stage: fetch | select | analyze | "
                          "render | deliver")
    ] = "deliver",
    profile: Annotated[list[str] | None, typer.Option("--profile", "-p", metavar="NAME",
                                                      help="only this profile (repeatable)")] = None,
) -> None:
    """Make the day's issue: fetch, select, analyse, render and deliver (each step only once)."""
    from ..pipeline import STAGES, run_day

    if until not in STAGES:
        raise UsageError(f"--until {until!r}: use one of {' | '.join(STAGES)}")
    cfg = get_config(config)
    with ExitStack() as stack:
        if demo:  # the sample day from a loopback stand-in, into the demo's own store and sink
            from ..config import demo_config
            from ..fetch.sample.server import serve_sample

            cfg = demo_config(cfg, stack.enter_context(serve_sample()))
        cfg, store = stack.enter_context(opened(config, subscribers=True, lock="run", cfg=cfg))
        _check_profiles(cfg, profile)
        day = parse_day(date_, cfg) if (date_ or not demo) else _sample_day()
        store.check_writable()
        with ProgressView() as view:
            report = run_day(store, cfg, day, until=until, profiles=profile, progress=view)
        from ..ops.status import reader_lines

        readers = reader_lines(store, cfg, day) if until != "fetch" else []
        refused = _refused_lines(store, report.refused, config)
    _print_day(cfg, report, until, config, demo, readers)
    for line in refused:
        typer.echo(line, err=True)
    if report.status == "failed" or refused:
        raise typer.Exit(1)


def _refused_lines(store, refused: list[tuple[str, str, str]], config) -> list[str]:
    """One line per recipient the SMTP server refused in this run: who, the server's reply, what to do."""
    if not refused:
        return []
    suppressed = store.suppressed()
    out = []
    for key, email, reply in refused:
        if suppressed.get(email.lower()) == "hard_bounce":
            fix = (f"the address is suppressed as a hard bounce: correct it in the subscriber files, or run "
                   f"`{again(f'subscribers resubscribe {email}', config)}` once it works")
        else:
            fix = "recorded as failed for this issue; the next issue tries again"
        out.append(f"error: {key}: {email} was refused by the SMTP server: {reply}; {fix}")
    return out


DemoOpt = Annotated[bool, typer.Option("--demo", help="the demo's own store and outbox (see `run --demo`)")]


def _maybe_demo(config, demo: bool):
    """The config as given, or the demo's (its store, the embedded sink, no LLM) with --demo."""
    if not demo:
        return None
    from ..config import demo_config

    return demo_config(get_config(config), base_url="")


def _sample_day():
    from ..fetch.sample import SAMPLE_DAY

    return SAMPLE_DAY


def _check_profiles(cfg, names: list[str] | None) -> None:
    for name in names or []:
        cfg.profile(name)


def _print_day(cfg, report, until: str, config, demo: bool, readers: list[str]) -> None:
    sent_now, recipients = 0, 0
    for name, info in report.editions.items():
        d = dict(info.get("deliveries") or {})
        now = d.pop("sent_now", 0)
        sent_now += now
        recipients += sum(d.values())
        line = f"{name}: {plural(info['papers'], 'paper')}, {info['status']}"
        if d:
            line += "; deliveries: " + ", ".join(f"{k} {v}" for k, v in sorted(d.items()) if v) + f" ({now} now)"
        if info.get("degraded"):
            line += f"; without the LLM: {info['degraded']}"
        if info.get("error"):
            line += f"; FAILED at {info.get('stage')}: {info['error']}"
        typer.echo(line)
    if report.cost:
        typer.echo(f"LLM cost this run: ${report.cost:.4f}")
    for line in readers:
        typer.echo(line)
    if until != "deliver" or not report.editions:
        return
    delivered = [i for i in report.editions.values() if i.get("deliveries") is not None and "deliveries" in i]
    if delivered and recipients == 0:
        typer.echo("nobody to send to: no subscriber of these profiles (add one with `newsletter subscribers add`)")
    elif delivered and sent_now == 0:
        typer.echo("nothing new to send: every subscriber already has this issue")
    if not cfg.smtp.host:
        typer.echo(f"messages: {cfg.resolve(cfg.smtp.outbox)}/ (embedded SMTP sink, one .eml per message)")
    typer.echo(f"preview:  {again(f'preview --date {report.day.isoformat()}' + (' --demo' if demo else ''), config)}")


@app.command()
def send(
    config: ConfigOpt = None, date_: DateOpt = None, demo: DemoOpt = False,
    to: Annotated[str | None, typer.Option("--to", metavar="EMAIL", help="send one test copy of each of the "
                                           "day's editions to this address (not recorded, nobody else mailed)")] = None,
) -> None:
    """Deliver the day's rendered editions to whoever has not received them yet."""
    from ..pipeline import send_day

    if to is not None:
        return _send_test(config, date_, to, demo)
    with opened(config, subscribers=True, lock="send", cfg=_maybe_demo(config, demo)) as (cfg, store):
        day = parse_day(date_, cfg)
        store.check_writable()
        refused: list[tuple[str, str, str]] = []
        with ProgressView() as view:
            out = send_day(store, cfg, day, progress=view, refused=refused)
        for name, counts in out.items():
            typer.echo(f"{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        lines = _refused_lines(store, refused, config)
    for line in lines:
        typer.echo(line, err=True)
    if lines:
        raise typer.Exit(1)


def _send_test(config, date_: str | None, to: str, demo: bool) -> None:
    from ..deliver import send_test_copy
    from ..roster import normalize_email

    with opened(config, cfg=_maybe_demo(config, demo)) as (cfg, store):
        day = parse_day(date_, cfg)
        try:
            address = normalize_email(to)
        except ValueError as e:
            raise UsageError(f"--to {to!r} is not a valid address: {e}") from None
        sent = 0
        for profile in cfg.profiles:
            ed = store.get_edition(day, profile.name)
            if ed is None or ed.status not in ("rendered", "sent"):
                continue
            where = send_test_copy(cfg, ed, address)
            typer.echo(f"{profile.name}: test copy sent to {address} through {where}")
            sent += 1
        if not sent:
            raise UsageError(f"no rendered edition for {day}; run `newsletter run --date {day} --until render` first")


@app.command()
def status(config: ConfigOpt = None) -> None:
    """What happened and what is next: scheduler, last runs (stage, counts, cost, errors), editions,
    deliveries pending/deferred/failed, and the next scheduled run."""
    from ..ops.status import status_lines

    with opened(config) as (cfg, store):
        for line in status_lines(cfg, store):
            typer.echo(line)


@app.command()
def mailbox(config: ConfigOpt = None) -> None:
    """Read the bounce mailbox once: hard and soft bounces, complaints and mailto unsubscribes suppress
    the reader (each message counted once, even after a crash); the rest is counted and left alone."""
    from ..ops.lock import hold, mailbox_lock_path
    from ..ops.mailbox import run_mailbox

    with opened(config) as (cfg, store):
        store.check_writable()
        with hold(mailbox_lock_path(cfg.var_dir), "newsletter mailbox"), ProgressView() as view:
            report = run_mailbox(store, cfg, progress=view)
    for line in report.lines():
        typer.echo(line)


@app.command()
def schedule(
    config: ConfigOpt = None,
    catch_up: Annotated[bool, typer.Option("--catch-up/--no-catch-up", help="run at once if today's run was missed")] = True,
) -> None:
    """Run in the foreground, making each issue on the configured cron; SIGTERM/SIGINT stop cleanly (exit 0)."""
    from ..ops.logs import attach_file, set_stderr_level
    from ..ops.schedule import serve
    from ..pipeline import check_llm

    cfg = get_config(config)
    load_subscribers(cfg)
    check_llm(cfg)
    attach_file(cfg)
    set_stderr_level(logging.INFO)
    raise typer.Exit(serve(cfg, catch_up=catch_up))


@app.command()
def history(
    query: Annotated[str, typer.Argument(metavar="QUERY",
                                         help="an arXiv id (2602.06959) or words from a title or abstract")] = "",
    config: ConfigOpt = None,
    profile: Annotated[str | None, typer.Option("--profile", "-p", metavar="NAME", help="only this profile")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, metavar="N", help="at most this many editions")] = 20,
) -> None:
    """Past editions and the papers they featured, newest first; search by paper id or words."""
    from ..ops.status import history_lines

    with opened(config) as (cfg, store):
        if profile:
            cfg.profile(profile)
        for line in history_lines(store, query, profile, limit):
            typer.echo(line)


@app.command()
def doctor(
    config: ConfigOpt = None,
    offline: Annotated[bool, typer.Option("--offline", help="no DNS lookups: skip the SPF, DKIM and DMARC "
                                          "checks")] = False,
) -> None:
    """Check everything run, send and serve need, and what receivers check (SPF, DKIM, DMARC): one line each
    with the fix; exit 1 if any fail (a warning does not fail)."""
    from ..ops.doctor import doctor as run_checks

    checks = run_checks(config_arg(config), emit=typer.echo, offline=offline)
    failed = [c.name for c in checks if c.state == "fail"]
    if failed:
        typer.echo(f"{plural(len(failed), 'check')} failed: {', '.join(failed)}")
        raise typer.Exit(1)
    warned = [c.name for c in checks if c.state == "warn"]
    notes = ([f"{plural(len(warned), 'warning')}: {', '.join(warned)}"] if warned else []) + \
        (["some skipped"] if any(c.state == "skip" for c in checks) else [])
    typer.echo("all checks passed" + (f" ({'; '.join(notes)})" if notes else ""))


@app.command()
def preview(
    config: ConfigOpt = None,
    date_: DateOpt = None,
    profile: Annotated[str | None, typer.Option("--profile", "-p", metavar="NAME",
                                                help="open this profile's edition")] = None,
    no_open: Annotated[bool, typer.Option("--no-open", help="do not open a browser")] = False,
    as_email: Annotated[
        str | None, typer.Option("--as", metavar="EMAIL",
                                 help="show this subscriber's exact message (name, unsubscribe link)")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", metavar="PORT",
                                             help="port on 127.0.0.1 (default: [web] port; 0 = any)")] = None,
    demo: DemoOpt = False,
) -> None:
    """Serve the archive on 127.0.0.1: every edition as subscribers see it, with text part and Markdown."""
    from ..pipeline import check_templates
    from ..web.preview import serve as serve_preview

    with opened(config, cfg=_maybe_demo(config, demo)) as (cfg, store):
        check_templates(cfg)
        day = parse_day(date_, cfg) if date_ else None
        if profile is not None:
            cfg.profile(profile)
        try:
            serve_preview(
                store, cfg, port=cfg.web.port if port is None else port, open_browser=not no_open,
                as_email=as_email, day=day, profile=profile,
                ready=lambda url: typer.echo(f"preview: {url}  (Ctrl-C to stop)"),
            )
        except OSError as e:
            raise UsageError(f"--port: cannot listen on 127.0.0.1 ({e.strerror}); pick another with --port") from None


@app.command("serve")
def serve_cmd(
    config: ConfigOpt = None,
    port: Annotated[int | None, typer.Option("--port", metavar="PORT",
                                             help="port to listen on (default: [web] port; 0 = any)")] = None,
) -> None:
    """The site behind [web] public_url: archive pages, one-click unsubscribe and feedback, on [web] host
    (127.0.0.1 unless configured). SIGTERM or Ctrl-C: finishes the requests in flight and stops within a second."""
    from ..ops.logs import say
    from ..web.public import ROUTES, serve

    with opened(config) as (cfg, store):
        if not cfg.web.public_url:
            say("note: [web] public_url is empty, so sent mail carries no https unsubscribe link")
        try:
            serve(store, cfg, port, ready=lambda url: typer.echo(f"serving {url}  ({ROUTES}; Ctrl-C to stop)"))
        except OSError as e:
            raise UsageError(f"--port: cannot listen on {cfg.web.host} ({e.strerror}); pick another with --port "
                             "or [web] port") from None


@app.command()
def publish(
    outdir: Annotated[Path | None, typer.Argument(metavar="OUTDIR", help="the folder the site goes into "
                                                  "(default: [web] publish_dir)")] = None,
    config: ConfigOpt = None,
    profile: Annotated[list[str] | None, typer.Option("--profile", "-p", metavar="NAME",
                                                      help="only this list (repeatable)")] = None,
    demo: DemoOpt = False,
) -> None:
    """Write the archive as a static site (pages, Atom and JSON feeds) into OUTDIR: only what changed,
    swapped in at once, so a web server never sees half a site."""
    from ..ops.publish import publish as publish_site
    from ..pipeline import check_templates

    with opened(config, cfg=_maybe_demo(config, demo)) as (cfg, store):
        check_templates(cfg)
        target = outdir if outdir is not None else cfg.resolve(cfg.web.publish_dir) if cfg.web.publish_dir else None
        if target is None:
            raise UsageError("OUTDIR: give the folder to publish the site into, or set [web] publish_dir")
        report = publish_site(store, cfg, target, profiles=profile)
    typer.echo(report.line())


def main() -> None:
    """Entry point: turns known errors into one line and their exit code, never a traceback."""
    try:
        app()  # click itself turns usage errors into a message and exit 2
    except NewsletterError as e:
        from ..ops.logs import mask

        if str(e):
            typer.echo(f"error: {mask(str(e))}" if e.exit_code else mask(str(e)), err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
