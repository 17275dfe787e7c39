"""`newsletter subscribers ...`: edit subscribers/*.toml (comments kept) and the suppression list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..wording import plural
from .common import ConfigOpt, get_config, opened

subscribers_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Edit subscribers/*.toml (comments kept) and suppressions."
)
ProfilesOpt = Annotated[list[str] | None, typer.Option("--profile", "-p", metavar="NAME",
                                                       help="profile to receive (repeatable)")]
EmailArg = Annotated[str, typer.Argument(metavar="EMAIL", help="the subscriber's address")]
FileOpt = Annotated[str | None, typer.Option("--file", "-f", metavar="FILE", help="file in subscribers/ for new entries")]


@subscribers_app.command("add")
def subscribers_add(
    email: EmailArg,
    name: Annotated[str, typer.Option("--name", "-n", metavar="NAME", help="shown in the greeting")] = "",
    profile: ProfilesOpt = None, file: FileOpt = None, config: ConfigOpt = None,
) -> None:
    """Add an address (or merge profiles/name into its existing entry)."""
    from ..subscribers import add_subscriber

    cfg = get_config(config)
    r = add_subscriber(cfg, email, name, profile, file)
    verb = "added" if r.added else "updated" if r.merged else "already subscribed:"
    typer.echo(f"{verb} {(r.added or r.merged or r.unchanged)[0]}")


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
            typer.echo(f"{s.email}\t{s.name}\t{','.join(s.profiles)}\t{Path(s.source).name}{flag}")
        typer.echo(f"{plural(len(rows), 'subscriber')}, {sum(1 for _, w in rows if w)} with a suppression", err=True)


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
