"""Deliver: takes a rendered edition and its subscribers; gives one message per reader over SMTP,
exactly once (the ledger), with signed unsubscribe links; suppressed readers get nothing.
"""

from .ledger import prepare_ledger
from .message import MessageError, MessageFactory, new_message_id
from .pacing import RetryPolicy
from .replies import classify
from .send import SendReport, message_factory, send_edition, send_test_copy
from .tokens import make_token, secret_from_env, unsubscribe_url, verify_token

__all__ = [
    "MessageError", "MessageFactory", "RetryPolicy", "SendReport", "classify", "make_token", "message_factory",
    "new_message_id", "prepare_ledger", "secret_from_env", "send_edition", "send_test_copy", "unsubscribe_url",
    "verify_token",
]
