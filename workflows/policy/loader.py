"""From a policy file to a Policy, or to every problem in it as `path.to.field: what is wrong`.

Workflow code never imports this module (it imports YAML and builds JSON Schema); it is reached
through `workflows.policy.parse_policy`, `load_policy` and `policy_from_data`.

Paths name list items by their `key` where they have a unique one
(`plays.new_stakeholder.steps.connect.assignee`) and by index otherwise (`roles.2`), and each
problem carries the line it is on when it came from YAML.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from workflows.policy import Policy, PolicyError, PolicyIssue

_PLAIN_KEY = re.compile(r"[a-z][a-z0-9_]*")
_PATTERNS = {
    r"^[a-z][a-z0-9_]{0,47}$": "lowercase letters, digits and _, starting with a letter",
    r"^[a-z0-9][a-z0-9_-]{0,62}$": "lowercase letters, digits, - and _",
}


class _StrictLoader(yaml.SafeLoader):
    """Refuses duplicate keys: plain PyYAML keeps the last one and hides the mistake."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        first: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            seen = (key_node.tag, key_node.value)
            if seen in first:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key '{key_node.value}' (first on line {first[seen]})",
                    key_node.start_mark,
                )
            first[seen] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def parse_yaml_policy(text: str, source: str) -> Policy:
    loader = _StrictLoader(text)
    try:
        nodes = loader.get_single_node()
        data = loader.construct_document(nodes) if nodes is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "yaml"
        what = " ".join(p for p in (e.problem, e.context) if p) or "not valid YAML"
        line = mark.line + 1 if mark else None
        raise PolicyError(source, [PolicyIssue(where, what, line)]) from None
    except yaml.YAMLError as e:
        raise PolicyError(source, [PolicyIssue("yaml", str(e))]) from None
    finally:
        loader.dispose()
    if data is None:
        raise PolicyError(
            source,
            [PolicyIssue("policy", "empty: a policy needs at least name, version and onboarding")],
        )
    return validate_policy_data(data, source, nodes)


def validate_policy_data(data: Any, source: str, nodes: yaml.Node | None) -> Policy:
    if not isinstance(data, Mapping):
        got = type(data).__name__
        message = f"must be a mapping of sections (name, version, onboarding, ...), got {got}"
        raise PolicyError(source, [PolicyIssue("policy", message, _line(nodes, []))])
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        issues = [_issue(err, data, nodes) for err in exc.errors()]
        issues.sort(key=lambda i: (i.line is None, i.line or 0))  # stable: in file order
        raise PolicyError(source, issues) from None


# ---- paths, lines and messages ----------------------------------------------------------------


def _issue(err: ErrorDetails, data: Any, nodes: yaml.Node | None) -> PolicyIssue:
    raw: list[str | int] = []  # the loc as it appears in the file
    shown: list[str] = []
    node, is_key = data, False
    for part in err["loc"]:
        if part == "[key]":  # pydantic's marker for a bad dict key
            is_key = True
        elif isinstance(node, Mapping) and part not in node and node.get("kind") == part:
            continue  # the tag pydantic adds for a union member; not in the file
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            raw.append(part)
            shown.append(_item_name(node, part))
            node = node[part]
        else:
            raw.append(part)
            shown.append(str(part))
            node = node.get(part) if isinstance(node, Mapping) else None
    message = _describe(err, raw, data, is_key)
    return PolicyIssue(".".join(shown) or "policy", message, _line(nodes, raw))


def _item_name(items: list[Any], i: int) -> str:
    keys = [item.get("key") if isinstance(item, Mapping) else None for item in items]
    key = keys[i]
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key) and keys.count(key) == 1:
        return key
    return str(i)


def _line(nodes: yaml.Node | None, raw: Sequence[str | int]) -> int | None:
    if nodes is None:
        return None
    node, line = nodes, nodes.start_mark.line + 1
    for part in raw:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if getattr(k, "value", None) == str(part)]
            if not match:
                break
            line, node = match[0][0].start_mark.line + 1, match[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _describe(err: ErrorDetails, raw: list[str | int], data: Any, is_key: bool) -> str:
    kind, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    shown = repr(got) if isinstance(got, str) else str(got)
    if kind == "value_error":  # our own checks: the message is already in our words
        return str(ctx.get("error", err["msg"]))
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        allowed = _fields_at(raw[:-1], data)
        close = difflib.get_close_matches(str(raw[-1]), allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"unknown field '{raw[-1]}' ({hint}allowed: {', '.join(allowed)})"
    if kind == "literal_error":
        expected = _quoted(ctx["expected"])
        if is_key:
            noun = str(raw[-2]).removesuffix("s") if len(raw) > 1 else "key"
            return f"unknown {noun} {shown} (known: {', '.join(expected)})"
        return f"must be one of {', '.join(expected)} (got {shown})"
    if kind == "union_tag_invalid":
        known = ", ".join(_quoted(ctx["expected_tags"]))
        return f"unknown kind {ctx['tag']!r} (known: {known})"
    if kind == "union_tag_not_found":
        return f"needs a 'kind' (one of: {', '.join(_tags_at(raw, data))})"
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=",
              "less_than": "<"}  # fmt: skip
    if kind in bounds:
        limit = next(iter(ctx.values()))
        limit = f"{limit:g}" if isinstance(limit, float) else limit
        return f"must be {bounds[kind]} {limit} (got {shown})"
    if kind == "string_pattern_mismatch":
        rule = _PATTERNS.get(str(ctx.get("pattern")), f"the pattern {ctx.get('pattern')}")
        return f"{shown} is not a valid name: use {rule}"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number (got {shown})"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number (got {shown})"
    if kind == "finite_number":
        return "must be a finite number"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping (got {shown})"
    if kind == "list_type":
        return f"must be a list (got {shown})"
    if kind == "string_type":
        return f"must be text (got {shown})"
    msg = err["msg"]
    return msg[:1].lower() + msg[1:]


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
