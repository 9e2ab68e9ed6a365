"""How the checks word what they find, and the paths people read."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Loc = tuple[str | int, ...]
Found = list[tuple[Loc, str]]

_PLAIN_KEY = re.compile(r"[a-z][a-z0-9_]*")


def finite(value: float | None) -> float | None:
    """A number a check can compare. The loader runs the checks on a file whose fields may
    be out of range too (reported as field errors); infinity or NaN there is not compared."""
    return value if value is not None and math.isfinite(value) else None


def unknown(noun: str, value: str, known: Sequence[str]) -> str:
    """`unknown role 'cs_mgr' (did you mean 'cs_manager'? known: csm, cs_manager)`."""
    known = unique(known)
    if not known:
        return f"unknown {noun} '{value}' (none defined)"
    close = difflib.get_close_matches(value, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown {noun} '{value}' ({hint}known: {', '.join(known)})"


def duplicates(keys: Iterable[str], noun: str) -> list[tuple[int, str]]:
    """Each key seen before in the same list: (its index, what is wrong)."""
    first: dict[str, int] = {}
    found: list[tuple[int, str]] = []
    for i, key in enumerate(keys):
        if key in first:
            found.append((i, f"duplicate {noun} '{key}' (also item {first[key]})"))
        else:
            first[key] = i
    return found


def unique(keys: Iterable[str]) -> list[str]:
    """First-seen order, so messages are the same on every run (no set iteration order)."""
    return list(dict.fromkeys(keys))


def shown_path(raw: Sequence[str | int], data: Any) -> str:
    """The dotted path people read: list items by their `key` where it is unique
    (`plays.new_stakeholder.steps.connect.assignee`), by index otherwise (`roles.2`)."""
    shown: list[str] = []
    node = data
    for part in raw:
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            shown.append(item_name(node, part))
            node = node[part]
        else:
            shown.append(str(part))
            node = node.get(part) if isinstance(node, Mapping) else None
    return ".".join(shown) or "policy"


def item_name(items: list[Any], i: int) -> str:
    keys = [item.get("key") if isinstance(item, Mapping) else None for item in items]
    key = keys[i]
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key) and keys.count(key) == 1:
        return key
    return str(i)
