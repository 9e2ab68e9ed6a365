"""Reading a policy as written, leniently, and wording what is wrong with it.

The checks read plain data (the YAML as written, or a validated model dumped back to it) so
that they can run even when some fields also fail their types: a typo in one milestone must not
hide a dependency cycle between two others. Where a value a check needs is itself broken
(pydantic reports that), the readers here give None and the check skips it rather than guess.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Loc = tuple[str | int, ...]
Found = list[tuple[Loc, str]]
Data = Mapping[str, Any]

_PLAIN_KEY = re.compile(r"[a-z][a-z0-9_]*")


# ---- reading plain data leniently -------------------------------------------------------------


def text(d: Data, field: str) -> str | None:
    value = d.get(field)
    return value if isinstance(value, str) else None


def number(d: Data, field: str) -> float | None:
    value = d.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def texts(d: Data, field: str, default: Sequence[str] = ()) -> list[str] | None:
    """The strings of a list field; the default when absent; None when it is not a list."""
    value = d.get(field, list(default))
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else None


def items(d: Data, field: str) -> list[tuple[int, Data]]:
    """The mapping items of a list field, with their index in the file."""
    value = d.get(field)
    if not isinstance(value, list):
        return []
    return [(i, v) for i, v in enumerate(value) if isinstance(v, Mapping)]


def mapping(d: Data, field: str) -> Data:
    value = d.get(field)
    return value if isinstance(value, Mapping) else {}


# ---- messages ---------------------------------------------------------------------------------


def unknown(noun: str, value: str, known: Sequence[str]) -> str:
    """`unknown role 'cs_mgr' (did you mean 'cs_manager'? known: csm, cs_manager)`."""
    known = unique(known)
    if not known:
        return f"unknown {noun} '{value}' (none defined)"
    close = difflib.get_close_matches(value, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown {noun} '{value}' ({hint}known: {', '.join(known)})"


def duplicates(loc: Loc, keyed: Iterable[tuple[int, str | None]], noun: str) -> Found:
    first: dict[str, int] = {}
    found: Found = []
    for i, key in keyed:
        if key is None:
            continue
        if key in first:
            found.append(((*loc, i), f"duplicate {noun} '{key}' (also item {first[key]})"))
        else:
            first[key] = i
    return found


def unique(keys: Iterable[str]) -> list[str]:
    """First-seen order, so messages are the same on every run (no set iteration order)."""
    return list(dict.fromkeys(keys))


# ---- paths ------------------------------------------------------------------------------------


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
