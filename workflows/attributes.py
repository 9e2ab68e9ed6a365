"""Search attributes: the columns a journey shows in the Temporal UI and in visibility queries.

Defined once; the workflow upserts them and devtools.infra registers them with the server.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey

SEGMENT = SearchAttributeKey.for_keyword("WaypostSegment")
TIER = SearchAttributeKey.for_keyword("WaypostTier")
STAGE = SearchAttributeKey.for_keyword("WaypostStage")
HEALTH = SearchAttributeKey.for_keyword("WaypostHealth")
CSM = SearchAttributeKey.for_keyword("WaypostCsm")
RENEWAL_DATE = SearchAttributeKey.for_datetime("WaypostRenewalDate")
OPEN_PLAYS = SearchAttributeKey.for_int("WaypostOpenPlays")

ALL: tuple[SearchAttributeKey[Any], ...] = (
    SEGMENT,
    TIER,
    STAGE,
    HEALTH,
    CSM,
    RENEWAL_DATE,
    OPEN_PLAYS,
)
