"""Ops: takes the config and the store; gives the schedule, one run at a time, graceful stops,
logs with secrets masked, and the answers of `doctor`, `status` and `history`.
"""
