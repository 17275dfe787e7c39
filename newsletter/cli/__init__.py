"""The command line: a thin shell over the library (`newsletter.cli:main` is the entry point)."""

from .app import app, main
from .init import init
from .subscribers import subscribers_app

app.command("init")(init)
app.add_typer(subscribers_app, name="subscribers")

__all__ = ["app", "main"]
