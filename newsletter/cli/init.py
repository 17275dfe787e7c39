"""`newsletter init [FOLDER]`: a commented config.toml and subscribers/ to start from."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from .common import prog


def init(
    folder: Annotated[Path, typer.Argument(help="where to write config.toml and subscribers/ (created if missing)")]
    = Path("."),
    force: Annotated[bool, typer.Option("--force", help="overwrite config.toml and subscribers/team.toml")] = False,
) -> None:
    """Write a commented config.toml and subscribers/team.toml to start from (never overwrites without --force)."""
    from ..starter import init_folder

    result = init_folder(folder, force=force)
    for path in result.written:
        typer.echo(f"wrote {path}")
    exe = prog()
    cd = ""
    if result.folder != Path.cwd().resolve():
        cd = f"cd {os.path.relpath(result.folder)} && "
        if exe != "newsletter":  # a relative path to the program would not survive the cd
            exe = os.path.abspath(sys.argv[0])
    typer.echo(f"next: {cd}{exe} run --demo   (the sample day, mailed to a local folder; then edit config.toml)")
