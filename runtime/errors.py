"""The one error base the entry points (worker, CLI, API, codec server) print as a set-up
problem: a message that says what to fix, without a traceback."""

from __future__ import annotations


class SetupError(RuntimeError):
    """Something this process needs is missing or misconfigured; the message says what to do."""
