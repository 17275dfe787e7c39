"""The LLM client shared by selection and analysis: concurrent, retried, cached, cost-capped.

Not a stage: `select` and `analyze` both use it. litellm is imported only when a call is made.
"""

from .client import LLM, Answer, LLMError, cache_key, is_fatal, is_retryable, make_llm, preflight, run_sync
from .prompts import Messages, prompt_hash, prompt_messages, strip_code_fence

__all__ = [
    "LLM", "Answer", "LLMError", "Messages", "cache_key", "is_fatal", "is_retryable", "make_llm", "preflight",
    "prompt_hash", "prompt_messages", "run_sync", "strip_code_fence",
]
