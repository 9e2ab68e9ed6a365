"""Policies written in YAML: the text to data, and a path in the data to its line.

Imported only when a YAML text is parsed, so that code which only needs the models (the
workflows) never loads YAML.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import yaml

from workflows.policy.errors import PolicyError, PolicyIssue


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


def read_yaml(text: str, source: str) -> tuple[Any, yaml.Node]:
    """The data in a YAML text and its node tree (for line numbers); PolicyError if it is
    not YAML, or empty."""
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
    if data is None or nodes is None:
        raise PolicyError(
            source,
            [PolicyIssue("policy", "empty: a policy needs at least name, version and onboarding")],
        )
    return data, nodes


def line_of(nodes: yaml.Node, raw: Sequence[str | int]) -> int:
    """The line of the value at `raw` (or of the deepest part of it the file has)."""
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
