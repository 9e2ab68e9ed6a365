"""A policy that cannot be used, and each thing wrong with it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PolicyIssue:
    """One problem, at its dotted path (`plays.rescue.steps.call.assignee`), with the line of
    the file it is on when the policy came from YAML."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PolicyError(Exception):
    """A policy that cannot be used, with every problem found (`errors`: `path: what is wrong`)."""

    def __init__(self, source: str, issues: list[PolicyIssue]) -> None:
        self.source = source
        self.issues = issues
        self.errors = [str(i) for i in issues]
        n = len(issues)
        lines = "\n".join(f"  {e}" for e in self.errors)
        super().__init__(f"{source}: invalid policy ({n} error{'s' * (n != 1)})\n{lines}")
