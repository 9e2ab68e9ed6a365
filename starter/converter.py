"""Waypost's payload converter: Temporal's pydantic converter, trusting what Waypost pinned.

A journey's input and a play's input carry a policy that was checked where it entered
Waypost (`load_policy` / `policy_from_data` in the CLI, API and demo; the `change_policy`
update's validator). Re-running the policy's cross-reference checks every time a worker
decodes such an input was a fifth of a worker's CPU when starting journeys (make bench).
Those two inputs are decoded with the PINNED context: every field is still validated, the
cross-field checks are not. Anything else, a `change_policy` included, is checked in full.
"""

from __future__ import annotations

from typing import Any

import temporalio.api.common.v1
from pydantic import TypeAdapter
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

from workflows.messages import JourneyInput
from workflows.play_messages import PlaybookInput
from workflows.policy import PINNED

PINNED_INPUTS: tuple[type, ...] = (JourneyInput, PlaybookInput)


class PinnedJSONPayloadConverter(PydanticJSONPlainPayloadConverter):
    def __init__(self) -> None:
        super().__init__()
        self._pinned: dict[type, TypeAdapter[Any]] = {t: TypeAdapter(t) for t in PINNED_INPUTS}

    def from_payload(
        self, payload: temporalio.api.common.v1.Payload, type_hint: type | None = None
    ) -> Any:
        adapter = self._pinned.get(type_hint) if type_hint is not None else None
        if adapter is None:
            return super().from_payload(payload, type_hint)
        return adapter.validate_json(payload.data, context={PINNED: True})


class WaypostPayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        json_converter = PinnedJSONPayloadConverter()
        super().__init__(
            *(
                json_converter if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


waypost_data_converter = DataConverter(payload_converter_class=WaypostPayloadConverter)
