"""One way to build a Temporal client, so the worker, CLI, API and tests agree on the converter.

Every client gets the pydantic data converter; with `WAYPOST_PAYLOAD_KEY` set it also gets
the encryption codec (runtime/codec.py), so no client can write a payload a worker refuses.
"""

from __future__ import annotations

import enum

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime

from runtime.codec import PayloadKeys, with_encryption
from runtime.converter import waypost_data_converter
from runtime.settings import Settings


class _From(enum.Enum):
    SETTINGS = enum.auto()


FROM_SETTINGS = _From.SETTINGS


def data_converter(keys: PayloadKeys | _From | None = FROM_SETTINGS) -> DataConverter:
    """Waypost's pydantic converter (runtime/converter.py), encrypting when there are keys
    (by default: the settings')."""
    if keys is FROM_SETTINGS:
        # Read here rather than passed down, so every caller of `connect` (the CLI's
        # commands, the demo) encrypts without each having to remember to.
        keys = PayloadKeys.from_settings(Settings())
    return with_encryption(waypost_data_converter, keys)


def converter_for(settings: Settings) -> DataConverter:
    """The converter for clients built from `settings` (the API's, which has them at hand)."""
    return data_converter(PayloadKeys.from_settings(settings))


async def connect(
    address: str,
    namespace: str = "default",
    *,
    keys: PayloadKeys | _From | None = FROM_SETTINGS,
    runtime: Runtime | None = None,
    lazy: bool = False,
) -> Client:
    """A client for Waypost. `keys=None` means no encryption whatever the environment says
    (tests that need a plain client); `runtime` carries the worker's metrics exporter."""
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=data_converter(keys),
        runtime=runtime,
        lazy=lazy,
    )


def ui_link(ui_url: str | None, namespace: str, workflow_id: str) -> str | None:
    if not ui_url:
        return None
    return f"{ui_url}/namespaces/{namespace}/workflows/{workflow_id}"
