"""`python -m newsletter.cli` (tests and services start the command this way)."""

from . import main

main()
