"""A policy read as far as it can be when some of its fields are broken, so the checks can
run in the same pass as field validation: a bad title must not hide a cycle through its
milestone, and `waypost policy check` lists every problem at once.

The lenient reading is the models' own validation schema, transformed, not a second copy of
it: bounds, patterns, lengths and literal choices are not enforced, unknown fields are kept
aside, a field that has a default falls back to it, and an item of a list or mapping that
still cannot be read is left out. What comes back is made of the real model classes, so the
checks are the typed ones. Each list item read remembers its index in the file, so the paths
and lines of what the checks find stay right when an item before it was left out.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import SchemaValidator, core_schema

from workflows.policy.models import Policy
from workflows.policy.wording import Loc

# Extra fields each model read carries: the serial number of its item in the file (items of
# lists), and the names of its fields that could not be read (fallen back to their defaults,
# or lost items).
_SERIAL = "\x00serial"
_LOST = "\x00lost"
_UNENFORCED = ("min_length", "max_length", "pattern", "ge", "gt", "le", "lt", "allow_inf_nan")


class _Broken:
    """What a value that could not be read becomes, until its model drops or replaces it."""


_BROKEN = _Broken()


@dataclass(frozen=True)
class Lenient:
    """A policy read leniently, and what of it could not be read (see `checks.Reading`)."""

    policy: Policy
    index: Mapping[int, int]  # id(model of a list item) -> its index in the file
    unreadable: frozenset[str]

    def lost(self, model: BaseModel) -> frozenset[str]:
        lost = (model.__pydantic_extra__ or {}).get(_LOST)
        return lost if isinstance(lost, frozenset) else frozenset()

    def file_loc(self, loc: Loc) -> Loc:
        """The path in the file of a path in the lenient model."""
        node: Any = self.policy
        out: list[str | int] = []
        for part in loc:
            if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
                out.append(self.index.get(id(node), part))
                continue
            out.append(part)
            if isinstance(node, Mapping):
                node = node.get(part)
            elif isinstance(node, BaseModel):
                node = getattr(node, str(part), None)
            else:
                node = None
        return tuple(out)


def read_leniently(data: Mapping[str, Any]) -> Lenient | None:
    """The policy as far as it can be read; None when not even its top level can be."""
    items: list[tuple[int, Any]] = []  # by serial number: (index in its list, the item)
    try:
        policy = _validator().validate_python(_marked(data, items))
    except ValidationError:
        return None
    if not isinstance(policy, Policy):
        return None
    index: dict[int, int] = {}  # id(model) -> index in the file, for the items that were read
    read: set[int] = set()
    for model in _models(policy):
        serial = (model.__pydantic_extra__ or {}).get(_SERIAL)
        if isinstance(serial, int):
            index[id(model)] = items[serial][0]
            read.add(serial)
    unreadable = {k for s, (_, item) in enumerate(items) if s not in read for k in _keys(item)}
    templates = data.get("templates")
    if isinstance(templates, Mapping):
        unreadable |= {str(name) for name in templates if name not in policy.templates}
    return Lenient(policy, index, frozenset(unreadable))


def _marked(node: Any, items: list[tuple[int, Any]], index: int | None = None) -> Any:
    """A copy of the data whose mappings in lists carry a serial number into `items`."""
    if isinstance(node, Mapping):
        copied = {k: _marked(v, items) for k, v in node.items()}
        if index is not None:
            copied[_SERIAL] = len(items)
            items.append((index, node))
        return copied
    if isinstance(node, list):
        return [_marked(v, items, i) for i, v in enumerate(node)]
    return node


def _models(node: Any) -> Iterator[BaseModel]:
    if isinstance(node, BaseModel):
        yield node
        node = list(node.__dict__.values())
    if isinstance(node, Mapping):
        node = list(node.values())
    if isinstance(node, list | tuple):
        for child in node:
            yield from _models(child)


def _keys(node: Any) -> Iterator[str]:
    """The `key` of an item and of everything inside it."""
    if isinstance(node, Mapping):
        if isinstance(key := node.get("key"), str):
            yield key
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            yield from _keys(child)


# ---- the lenient schema ------------------------------------------------------------------------


@functools.cache
def _validator() -> SchemaValidator:
    schema = copy.deepcopy(Policy.__pydantic_core_schema__)
    return SchemaValidator(_Lenient().schema(dict(schema)))


class _Lenient:
    def __init__(self) -> None:
        # A sub-schema used twice (a condition, in wait_until steps and in exit_when) is one
        # object, after deepcopy too: transform it once.
        self.done: dict[int, dict[str, Any]] = {}

    def schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        if (done := self.done.get(id(schema))) is None:
            done = self.done[id(schema)] = self._transform(schema)
        return done

    def _transform(self, schema: dict[str, Any]) -> dict[str, Any]:
        kind = schema["type"]
        for key in _UNENFORCED:
            schema.pop(key, None)
        if kind == "literal" and all(isinstance(e, str) for e in schema["expected"]):
            return dict(core_schema.str_schema())
        if kind == "list":
            schema["items_schema"] = _broken_on_error(self.schema(schema["items_schema"]))
        elif kind == "dict":
            schema["keys_schema"] = self.schema(schema["keys_schema"])
            schema["values_schema"] = _broken_on_error(self.schema(schema["values_schema"]))
        elif kind == "default":
            schema["schema"] = _broken_on_error(self.schema(schema["schema"]))
        elif kind in ("nullable", "model-field"):
            schema["schema"] = self.schema(schema["schema"])
        elif kind == "tagged-union":
            schema["choices"] = {tag: self.schema(c) for tag, c in schema["choices"].items()}
        elif kind == "model":
            # Not a model schema: pydantic-core would reuse the class's own, strict, validator
            # for it. The fields, read leniently, become an instance of the class instead.
            fields = self.schema(schema["schema"])
            build = functools.partial(_instance, schema["cls"])
            return dict(core_schema.no_info_after_validator_function(build, fields))
        elif kind == "model-fields":
            schema["extra_behavior"] = "allow"
            schema["fields"] = {name: self.schema(f) for name, f in schema["fields"].items()}
        return schema


def _instance(
    cls: type[BaseModel], read: tuple[dict[str, Any], dict[str, Any] | None, set[str]]
) -> BaseModel:
    """The model of fields read leniently: a field that could not be read takes its default,
    items that could not be read are left out, and the model says which fields lost what."""
    fields, extra, fields_set = read
    lost: set[str] = set()
    for name, value in fields.items():
        if value is _BROKEN:
            fields[name] = cls.model_fields[name].get_default(call_default_factory=True)
        elif isinstance(value, list) and any(v is _BROKEN for v in value):
            fields[name] = [v for v in value if v is not _BROKEN]
        elif isinstance(value, dict) and any(v is _BROKEN for v in value.values()):
            fields[name] = {k: v for k, v in value.items() if v is not _BROKEN}
        else:
            continue
        lost.add(name)
    model = cls.model_construct(_fields_set=fields_set, **fields)
    object.__setattr__(model, "__pydantic_extra__", {**(extra or {}), _LOST: frozenset(lost)})
    return model


def _broken_on_error(schema: dict[str, Any]) -> dict[str, Any]:
    return dict(core_schema.no_info_wrap_validator_function(_or_broken, schema))


def _or_broken(value: Any, handler: core_schema.ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return _BROKEN
