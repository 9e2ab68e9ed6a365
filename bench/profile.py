"""Reading py-spy's raw output (`frame;frame;…;leaf count` per line) into a short summary."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from bench.models import ProfileSummary

# A frame reads "function (path/to/module.py:123)"; the line number is dropped to aggregate.
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<path>[^():]+)(?::\d+)?\)$")
WAYPOST_PACKAGES = ("workflows", "activities", "starter")
WIRING = ("starter/cli.py",)  # entry points: on every stack, they say nothing


def _frame(raw: str) -> tuple[str, str]:
    """(label, package) of one frame."""
    match = _FRAME.match(raw.strip())
    if match is None:
        return raw.strip(), "?"
    path = match["path"]
    return f"{match['func']} ({path})", path.split("/", 1)[0]


def summarize(process: str, phase: str, file: Path, top: int = 10) -> ProfileSummary:
    leaf: Counter[str] = Counter()
    package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in file.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")]
        total += count
        label, pkg = frames[-1]
        leaf[label] += count
        package[pkg] += count
        for name in {
            label
            for label, pkg in frames
            if pkg in WAYPOST_PACKAGES and not label.endswith(tuple(f"({w})" for w in WIRING))
        }:
            inclusive[name] += count

    def pct(counter: Counter[str]) -> list[tuple[str, float]]:
        return (
            [(k, round(100 * v / total, 1)) for k, v in counter.most_common(top)] if total else []
        )

    return ProfileSummary(
        process=process,
        phase=phase,
        file=str(file),
        samples=total,
        top_self=pct(leaf),
        by_package=pct(package),
        waypost_inclusive=pct(inclusive),
    )
