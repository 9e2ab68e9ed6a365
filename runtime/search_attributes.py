"""Waypost's search attributes on a Temporal server: registered before any journey starts.

The keys themselves are workflow data (workflows/attributes.py); this is the server side.
"""

from __future__ import annotations

from typing import Any

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from workflows import attributes

log = structlog.get_logger(__name__)


def indexed_type(key: SearchAttributeKey[Any]) -> IndexedValueType.ValueType:
    """The operator API's type for `key` (the SDK's enum has the same numbers)."""
    return IndexedValueType.ValueType(int(key.indexed_value_type))


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register Waypost's search attributes on a server that does not have them yet."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        key.name: indexed_type(key)
        for key in attributes.ALL
        if key.name not in listed.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
        log.info("search attributes registered", names=sorted(missing))
