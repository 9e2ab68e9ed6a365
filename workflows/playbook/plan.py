"""Pure helpers for plays: workflow ids, cause keys and message rendering."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

from workflows.policy import Template

_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def cause_key(cause: str) -> str:
    """A cause as it may stand in a workflow id: lowercase, no spaces or slashes."""
    return _UNSAFE.sub("-", cause.lower()).strip("-")[:80] or "none"


def play_workflow_id(account_id: str, play: str, cause: str) -> str:
    """`play-<account>-<play>-<cause>`: the same play for the same cause is one workflow, so
    Temporal itself refuses a second run while the first is open."""
    return f"play-{account_id}-{play}-{cause_key(cause)}"


class _Keep(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"  # an unknown value shows as its placeholder, never crashes


def render(template: Template, values: Mapping[str, str]) -> tuple[str, str]:
    """(subject, body) with placeholders filled from `values`."""
    fmt = string.Formatter()
    keep = _Keep(values)
    return fmt.vformat(template.subject, (), keep), fmt.vformat(template.body, (), keep)
