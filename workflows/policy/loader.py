"""From a policy file or data to a Policy, or to every problem in it as
`path.to.field: what is wrong`, each with its line when it came from YAML.

Field errors come from the models (pydantic), in Waypost's words; the problems that span
fields from `checks`, run on the policy as far as it can be read (`lenient`) when some of its
fields are broken, so that one pass reports both. Paths name
list items by their `key` where they have a unique one (`plays.new_stakeholder.steps.connect`)
and by index otherwise (`roles.2`).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from workflows.models import KEY_PATTERN
from workflows.policy.checks import problems
from workflows.policy.errors import PolicyError, PolicyIssue
from workflows.policy.fields import NAME_PATTERN
from workflows.policy.lenient import read_leniently
from workflows.policy.models import Policy
from workflows.policy.wording import Loc, shown_path

if TYPE_CHECKING:
    import yaml

_PATTERNS = {
    KEY_PATTERN: "lowercase letters, digits and _, starting with a letter",
    NAME_PATTERN: "lowercase letters, digits, - and _",
}


def load_policy(path: str | Path) -> Policy:
    """A policy from a YAML file; an unreadable file is a PolicyError too."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise PolicyError(str(path), [PolicyIssue("file", f"cannot read {path}: {reason}")]) from e
    return parse_policy(text, str(path))


def parse_policy(text: str, source: str = "<string>") -> Policy:
    """A policy from YAML text; raises PolicyError listing every problem, with line numbers."""
    # Imported here so that code which only needs the models never imports YAML.
    from workflows.policy.yaml_text import read_yaml

    data, nodes = read_yaml(text, source)
    return _validated(data, source, nodes)


def policy_from_data(data: Any, source: str = "<data>") -> Policy:
    """A policy from already-parsed data (e.g. a JSON request body), with the same errors."""
    return _validated(data, source, None)


def _validated(data: Any, source: str, nodes: yaml.Node | None) -> Policy:
    if not isinstance(data, Mapping):
        got = type(data).__name__
        message = f"must be a mapping of sections (name, version, onboarding, ...), got {got}"
        raise PolicyError(source, [PolicyIssue("policy", message, _line(nodes, []))])
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        issues = [_issue(err, data, nodes) for err in exc.errors()]
        # The checks too, on what can be read, so that one pass names every problem.
        if (lenient := read_leniently(data)) is not None:
            found = problems(lenient.policy, lenient)
            issues += [_problem(lenient.file_loc(loc), m, data, nodes) for loc, m in found]
    else:
        issues = [_problem(loc, message, data, nodes) for loc, message in problems(policy)]
    if not issues:
        return policy
    issues.sort(key=lambda i: (i.line is None, i.line or 0))  # stable: in file order
    raise PolicyError(source, issues)


# ---- paths, lines and messages ----------------------------------------------------------------


def _problem(loc: Loc, message: str, data: Any, nodes: yaml.Node | None) -> PolicyIssue:
    return PolicyIssue(shown_path(loc, data), message, _line(nodes, loc))


def _issue(err: ErrorDetails, data: Any, nodes: yaml.Node | None) -> PolicyIssue:
    raw: list[str | int] = []  # the loc as it appears in the file
    node, is_key = data, False
    for part in err["loc"]:
        if part == "[key]":  # pydantic's marker for a bad dict key
            is_key = True
        elif isinstance(node, Mapping) and part not in node and node.get("kind") == part:
            continue  # the tag pydantic adds for a union member; not in the file
        else:
            raw.append(part)
            if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
            else:
                node = node.get(part) if isinstance(node, Mapping) else None
    message = _describe(err, raw, data, is_key)
    return PolicyIssue(shown_path(raw, data), message, _line(nodes, raw))


def _line(nodes: yaml.Node | None, raw: Sequence[str | int]) -> int | None:
    if nodes is None:
        return None
    from workflows.policy.yaml_text import line_of  # loaded already: nodes came from it

    return line_of(nodes, raw)


# Errors worded without looking at where they are: pydantic's kind → Waypost's words.
_PLAIN = {
    "missing": "required",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
    "int_parsing": "must be a whole number (got {shown})",
    "int_type": "must be a whole number (got {shown})",
    "int_from_float": "must be a whole number (got {shown})",
    "float_parsing": "must be a number (got {shown})",
    "float_type": "must be a number (got {shown})",
    "finite_number": "must be a finite number",
    "model_type": "must be a mapping (got {shown})",
    "model_attributes_type": "must be a mapping (got {shown})",
    "dict_type": "must be a mapping (got {shown})",
    "list_type": "must be a list (got {shown})",
    "string_type": "must be text (got {shown})",
}
_BOUNDS = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=",
           "less_than": "<"}  # fmt: skip


def _describe(err: ErrorDetails, raw: list[str | int], data: Any, is_key: bool) -> str:
    kind, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    shown = repr(got) if isinstance(got, str) else str(got)
    if kind in _PLAIN:
        return _PLAIN[kind].format(shown=shown)
    if kind == "extra_forbidden":
        allowed = _fields_at(raw[:-1], data)
        close = difflib.get_close_matches(str(raw[-1]), allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"unknown field '{raw[-1]}' ({hint}allowed: {', '.join(allowed)})"
    if kind in ("literal_error", "union_tag_invalid", "union_tag_not_found"):
        return _not_a_choice(kind, ctx, raw, data, shown, is_key)
    if kind in _BOUNDS:
        limit = next(iter(ctx.values()))
        limit = f"{limit:g}" if isinstance(limit, float) else limit
        return f"must be {_BOUNDS[kind]} {limit} (got {shown})"
    if kind == "string_pattern_mismatch":
        rule = _PATTERNS.get(str(ctx.get("pattern")), f"the pattern {ctx.get('pattern')}")
        return f"{shown} is not a valid name: use {rule}"
    msg = err["msg"]
    return msg[:1].lower() + msg[1:]


def _not_a_choice(
    kind: str, ctx: dict[str, Any], raw: list[str | int], data: Any, shown: str, is_key: bool
) -> str:
    """A value, a key (`is_key`) or a union member's kind that is not one of a fixed set."""
    if kind == "union_tag_invalid":
        known = ", ".join(_quoted(ctx["expected_tags"]))
        return f"unknown kind {ctx['tag']!r} (known: {known})"
    if kind == "union_tag_not_found":
        return f"needs a 'kind' (one of: {', '.join(_tags_at(raw, data))})"
    expected = _quoted(ctx["expected"])
    if is_key:
        noun = str(raw[-2]).removesuffix("s") if len(raw) > 1 else "key"
        return f"unknown {noun} {shown} (known: {', '.join(expected)})"
    return f"must be one of {', '.join(expected)} (got {shown})"


def _quoted(expected: str) -> list[str]:
    """`'a', 'b' or 'c'` as pydantic words it, as a list."""
    return re.findall(r"'([^']*)'", expected)


# ---- the JSON Schema, for naming what is allowed where ----------------------------------------


@functools.cache
def _schema() -> dict[str, Any]:
    return Policy.model_json_schema()


def _deref(schema: Any) -> dict[str, Any]:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = _schema()["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema if isinstance(schema, dict) else {}


def _variant(schema: dict[str, Any], node: Any) -> dict[str, Any]:
    """The member of a union that `node` is (by its `kind`), or the only non-null one."""
    schema = _deref(schema)
    options = schema.get("oneOf") or schema.get("anyOf")
    if not options:
        return schema
    mapping = schema.get("discriminator", {}).get("mapping", {})
    if mapping and isinstance(node, Mapping) and node.get("kind") in mapping:
        return _deref({"$ref": mapping[node["kind"]]})
    non_null = [o for o in options if _deref(o).get("type") != "null"]
    return _variant(non_null[0], node) if len(non_null) == 1 else schema


def _schema_at(raw: Sequence[str | int], data: Any) -> tuple[dict[str, Any], Any]:
    schema, node = _schema(), data
    for part in raw:
        schema = _variant(schema, node)
        if isinstance(part, int):
            schema = _deref(schema.get("items"))
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            props = schema.get("properties", {})
            schema = _deref(props[part] if part in props else schema.get("additionalProperties"))
            node = node.get(part) if isinstance(node, Mapping) else None
    return schema, node


def _fields_at(raw: Sequence[str | int], data: Any) -> list[str]:
    schema, node = _schema_at(raw, data)
    return list(_variant(schema, node).get("properties", {}))


def _tags_at(raw: Sequence[str | int], data: Any) -> list[str]:
    schema, _ = _schema_at(raw, data)
    for option in [schema, *[_deref(o) for o in schema.get("anyOf", [])]]:
        if "discriminator" in option:
            return list(option["discriminator"].get("mapping", {}))
    return []
