"""What a provider error means: fatal (bad key, no permission, unknown model), worth another try
(429, 5xx, timeouts), how long the provider asks us to wait, and how to say it in one line."""

from __future__ import annotations

import asyncio
import re
import time

from ..stop import stop_requested

STOP_POLL_SECONDS = 0.2  # how soon a backoff notices a stop request


def status_of(e: BaseException) -> int | None:
    s = getattr(e, "status_code", None)
    return s if isinstance(s, int) else None


_FATAL_NAMES = ("AuthenticationError", "PermissionDeniedError", "NotFoundError")
_FATAL_TEXT = re.compile(
    r"api[_ ]?key|authenticat|unauthori[sz]ed|permission|forbidden|does not exist|model[^.]{0,40}not found"
    r"|no such model|unknown model|invalid model|LLM Provider NOT provided|missing credentials",
    re.IGNORECASE,
)


def is_fatal(e: BaseException) -> bool:
    """Bad key, no permission, unknown model: every further call would fail the same way.

    litellm reports a missing key of some providers as a 500 (an OpenAI client error wrapped as
    an APIError), so the message is read too, not only the status.
    """
    if type(e).__name__ in _FATAL_NAMES:
        return True
    s = status_of(e)
    if s in (401, 403, 404):
        return True
    if type(e).__name__ in ("Timeout", "APITimeoutError", "APIConnectionError", "RateLimitError") or s == 429:
        return False
    return bool(_FATAL_TEXT.search(str(e)[:500]))


def is_retryable(e: BaseException) -> bool:
    """429, 5xx, timeouts and connection errors are worth another try; 4xx (bad key, bad request) are not."""
    if isinstance(e, asyncio.TimeoutError | TimeoutError | ConnectionError):
        return True
    if is_fatal(e):
        return False
    name = type(e).__name__
    if name in ("Timeout", "APITimeoutError", "APIConnectionError", "ServiceUnavailableError",
                "RateLimitError", "InternalServerError"):
        return True
    s = status_of(e)
    return s is not None and (s == 429 or s == 408 or s >= 500)


def retry_after_seconds(e: BaseException | None) -> float:
    """Seconds from a Retry-After header (seconds form) on the provider's response, else 0."""
    headers = getattr(getattr(e, "response", None), "headers", None)
    try:
        value = headers.get("retry-after") if headers is not None else None
        return max(0.0, float(value)) if value else 0.0
    except (TypeError, ValueError, AttributeError):
        return 0.0


# litellm wraps the provider's words as "litellm.AuthenticationError: AuthenticationError: OpenAIException - ..."
_WRAPPERS = re.compile(r"^(?:(?:litellm\.)?\w+(?:Error|Exception)\b(?:\s*-\s*|:\s*))+")


def clip(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, cut after a whole word with '…' (never inside a word)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def short_error(e: BaseException, limit: int = 160) -> str:
    """An error for people: type, status and the provider's own words, without litellm's wrapping.

    Never a key: litellm does not echo it, and the CLI and log handlers mask secrets anyway."""
    lines = str(e).strip().splitlines()
    msg = _WRAPPERS.sub("", lines[0]).strip() if lines else ""
    s = status_of(e)
    return clip(f"{type(e).__name__}{f' {s}' if s else ''}: {msg}" if msg else type(e).__name__, limit)


async def stoppable_sleep(seconds: float) -> None:
    """asyncio.sleep that ends early on a stop request (tenacity's `sleep=`): a SIGTERM during a
    Retry-After of 30 s stops the run within STOP_POLL_SECONDS, not after the wait."""
    end = time.monotonic() + max(0.0, seconds)
    while not stop_requested():
        left = end - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(STOP_POLL_SECONDS, left))
