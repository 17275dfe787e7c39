"""One error tree: what the CLI maps to an exit code, in one place.

`UsageError` (exit 2) is a mistake in config, subscriber files or options: the message says
what to fix. `RunError` (exit 1) is a run that could not go on (arXiv down, SMTP refused, cost
ceiling): the message says what happened and that the next run resumes. Stages raise their own
subclasses, so no stage imports another to know its errors.
"""

from __future__ import annotations


class NewsletterError(Exception):
    """Anything we raise on purpose; str(e) is one line for the user, never a traceback."""

    exit_code = 1


class UsageError(NewsletterError):
    """Bad config, subscriber file or command-line input: exit 2, nothing changed."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration mistake; the message names the file, the key and the fix."""


class StoreError(UsageError):
    """The database cannot be opened or written; the message says which file and what to do."""


class RunError(NewsletterError):
    """The run failed (network, SMTP, LLM, cost ceiling...): exit 1; what is done stays done."""


class ArxivError(RunError):
    """arXiv did not give a usable answer after retries."""


class CostCeilingReached(RunError):
    """The run spent its [llm] max_cost_usd; nothing more is sent to the LLM."""


class LLMFatalError(RunError):
    """The LLM refuses every call (bad key, no permission, unknown model): retrying cannot help."""


class DeliveryError(RunError):
    """The batch was stopped (auth, quota, TLS, unreachable server)."""

    def __init__(self, message: str, report: object | None = None):
        super().__init__(message)
        self.report = report


class StopRequested(NewsletterError):
    """SIGTERM/SIGINT arrived during a wait: the run stops cleanly (exit 0) and resumes next time."""

    exit_code = 0


class LockHeld(RunError):
    """Another newsletter process holds the run lock."""
