"""`newsletter subscribers ...`: edit subscribers/*.toml (comments kept), readers' preferences, the suppression list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..wording import plural
from .common import ConfigOpt, get_config, opened

subscribers_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None,
    help="Edit subscribers/*.toml (comments kept), readers' preferences and suppressions; show a reader.",
)
ProfilesOpt = Annotated[list[str] | None, typer.Option("--profile", "-p", metavar="NAME",
                                                       help="profile to receive (repeatable)")]
EmailArg = Annotated[str, typer.Argument(metavar="EMAIL", help="the subscriber's address")]
FileOpt = Annotated[str | None, typer.Option("--file", "-f", metavar="FILE", help="file in subscribers/ for new entries")]
# preferences: text in, checked by the library (so a bad value is one line naming the option); "" clears
InterestsOpt = Annotated[str | None, typer.Option("--interests", metavar="TEXT",
                                                  help="what the reader wants to read about, in plain words")]
KeywordsOpt = Annotated[str | None, typer.Option("--keywords", metavar='"A, B"', help="keywords, separated by commas")]
AuthorsOpt = Annotated[str | None, typer.Option("--authors", metavar='"A; B"', help="authors always included, "
                                                "separated by semicolons")]
FrequencyOpt = Annotated[str | None, typer.Option("--frequency", metavar="daily|weekly",
                                                  help="weekly: one issue a week on [schedule] weekly_day")]
MaxPapersOpt = Annotated[str | None, typer.Option("--max-papers", metavar="N",
                                                  help="at most N papers per issue, 1-100 (default: the list's top_n)")]


def _given(interests: str | None, keywords: str | None, authors: str | None, frequency: str | None,
           max_papers: str | None) -> dict[str, str | None]:
    return {"interests": interests, "keywords": keywords, "authors": authors, "frequency": frequency,
            "max_papers": max_papers}


@subscribers_app.command("add")
def subscribers_add(
    email: EmailArg,
    name: Annotated[str, typer.Option("--name", "-n", metavar="NAME", help="shown in the greeting")] = "",
    profile: ProfilesOpt = None, file: FileOpt = None,
    interests: InterestsOpt = None, keywords: KeywordsOpt = None, authors: AuthorsOpt = None,
    frequency: FrequencyOpt = None, max_papers: MaxPapersOpt = None, config: ConfigOpt = None,
) -> None:
    """Add an address (or merge profiles/name/preferences into its existing entry)."""
    from ..preferences import preference_changes
    from ..subscribers import add_subscriber

    cfg = get_config(config)
    prefs = preference_changes(_given(interests, keywords, authors, frequency, max_papers))
    r = add_subscriber(cfg, email, name, profile, file, preferences=prefs)
    verb = "added" if r.added else "updated" if r.merged else "already subscribed:"
    typer.echo(f"{verb} {(r.added or r.merged or r.unchanged)[0]}")


@subscribers_app.command("set")
def subscribers_set(
    email: EmailArg,
    interests: InterestsOpt = None, keywords: KeywordsOpt = None, authors: AuthorsOpt = None,
    frequency: FrequencyOpt = None, max_papers: MaxPapersOpt = None,
    clear: Annotated[list[str] | None, typer.Option("--clear", metavar="KEY", help="back to the default: interests, "
                                                    "keywords, authors, frequency, max_papers or all (repeatable)")]
    = None,
    config: ConfigOpt = None,
) -> None:
    """Set a reader's preferences in their entry (comments and the rest of the file kept); "" clears one."""
    from ..preferences import preference_changes, set_preferences

    cfg = get_config(config)
    changes = preference_changes(_given(interests, keywords, authors, frequency, max_papers), clear)
    r = set_preferences(cfg, email, changes)
    if not r.changed:
        typer.echo(f"unchanged: {r.subscriber.email} already has these preferences")
        return
    what = ", ".join(k if changes[k] is not None else f"{k} (cleared)" for k in r.changed)
    typer.echo(f"updated {r.subscriber.email} in {r.file.name}: {what}")


@subscribers_app.command("show")
def subscribers_show(
    email: EmailArg,
    demo: Annotated[bool, typer.Option("--demo", help="votes and issues from the demo's own store")] = False,
    config: ConfigOpt = None,
) -> None:
    """One reader: lists, language, preferences, suppressions, feedback votes and last issues."""
    from ..config import demo_config
    from ..preferences import reader_report
    from .reader_view import draw_reader

    cfg = demo_config(get_config(config), base_url="") if demo else None
    with opened(config, cfg=cfg) as (cfg, store):
        report = reader_report(cfg, store, email)
    draw_reader(report)


@subscribers_app.command("remove")
def subscribers_remove(email: EmailArg, config: ConfigOpt = None) -> None:
    """Delete an address from the subscriber files (use `unsubscribe` to keep it suppressed)."""
    from ..subscribers import remove_subscriber

    cfg = get_config(config)
    files = remove_subscriber(cfg, email)
    typer.echo(f"removed {email} from {', '.join(f.name for f in files)}")


@subscribers_app.command("list")
def subscribers_list(config: ConfigOpt = None) -> None:
    """Every subscriber, their profiles, and which lists (or all) mail to them is suppressed for."""
    from ..subscribers import list_subscribers

    with opened(config) as (cfg, store):
        rows = list_subscribers(cfg, store)
        for s, why in rows:
            flag = f"  [suppressed: {why}]" if why else ""
            mark = "*" if s.personal or s.max_papers is not None else ""
            typer.echo(f"{s.email}\t{s.name}\t{','.join(s.profiles)}\t{s.frequency}{mark}\t{Path(s.source).name}{flag}")
        weekly = sum(1 for s, _ in rows if s.frequency == "weekly")
        own = sum(1 for s, _ in rows if s.personal or s.max_papers is not None)
        typer.echo(f"{plural(len(rows), 'subscriber')}, {sum(1 for _, w in rows if w)} with a suppression, "
                   f"{weekly} weekly, {own} with preferences (*: `subscribers show EMAIL`)", err=True)


@subscribers_app.command("import")
def subscribers_import(
    csv_file: Annotated[Path, typer.Argument(metavar="CSV",
                                             help="CSV: email[,name[,profiles]]; a header row is recognised")],
    profile: ProfilesOpt = None, file: FileOpt = None, config: ConfigOpt = None,
) -> None:
    """Add many addresses from a CSV file; every refused row is explained on its own line."""
    from ..subscribers import import_csv

    cfg = get_config(config)
    r = import_csv(cfg, csv_file, profile, file)
    for line in r.refused:
        typer.echo(f"error: {line}", err=True)
    typer.echo(f"{len(r.added)} added, {len(r.merged)} merged, {len(r.unchanged)} unchanged, "
               f"{len(r.refused)} refused")
    if r.refused and not (r.added or r.merged or r.unchanged):
        raise typer.Exit(2)


OneProfileOpt = Annotated[str | None, typer.Option("--profile", "-p", metavar="NAME",
                                                  help="only this list (default: every list)")]


@subscribers_app.command("unsubscribe")
def subscribers_unsubscribe(
    email: EmailArg, profile: OneProfileOpt = None,
    remove: Annotated[bool, typer.Option("--remove", help="also take it out of the files")] = False,
    config: ConfigOpt = None,
) -> None:
    """Suppress an address for one list (--profile) or every list: no send mails it, whatever the files say."""
    from ..subscribers import unsubscribe

    with opened(config) as (cfg, store):
        address = unsubscribe(store, cfg, email, remove=remove, profile=profile)
    typer.echo(f"unsubscribed {address} from {f'list {profile}' if profile else 'every list'}")


@subscribers_app.command("resubscribe")
def subscribers_resubscribe(email: EmailArg, profile: OneProfileOpt = None, config: ConfigOpt = None) -> None:
    """Lift a suppression (only when the reader asks for it): every one, or one list's with --profile."""
    from ..subscribers import resubscribe

    with opened(config) as (cfg, store):
        lifted = resubscribe(store, email, cfg, profile)
        still = store.suppressed(profile).get(email.strip().lower()) if profile else None
    which = f" for list {profile}" if profile else ""
    typer.echo(f"resubscribed {email}{which}" if lifted else f"{email} was not suppressed{which}")
    if still:
        typer.echo(f"note: {email} is still suppressed for every list ({still}); "
                   "run `newsletter subscribers resubscribe` without --profile to lift that", err=True)
