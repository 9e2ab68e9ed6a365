"""One way to build a Temporal client, so the worker, CLI and tests agree on the converter."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter


async def connect(address: str, namespace: str = "default") -> Client:
    return await Client.connect(
        address, namespace=namespace, data_converter=pydantic_data_converter
    )


def ui_link(ui_url: str | None, namespace: str, workflow_id: str) -> str | None:
    if not ui_url:
        return None
    return f"{ui_url}/namespaces/{namespace}/workflows/{workflow_id}"
