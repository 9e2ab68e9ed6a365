"""`GET /accounts/{id}` (where the journey stands, from Temporal) and its timeline (from
Postgres)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from starter.api.calls import bounded, db_call, journey_error
from starter.api.deps import Authorized, OptionsDep, ServicesDep
from starter.api.errors import ApiError, responses
from starter.journeys import JourneyError, journey_state
from store.timeline import fetch_timeline
from workflows.journey.state import JourneyState
from workflows.models import ID_PATTERN

router = APIRouter(dependencies=[Authorized], responses=responses(401, 404, 422, 503))

AccountId = Annotated[str, Path(pattern=ID_PATTERN, description="The account's id.")]


@router.get(
    "/accounts/{account_id}",
    responses={200: {"model": JourneyState}},
    summary="Where the account's journey stands",
)
async def get_account(
    account_id: AccountId, services: ServicesDep, options: OptionsDep
) -> JSONResponse:
    try:
        state: JourneyState = await bounded(
            options.temporal_timeout, journey_state(services.need_client(), account_id), "state"
        )
    except JourneyError as err:
        raise journey_error(err) from None
    return JSONResponse(state.model_dump(mode="json"))


@router.get("/accounts/{account_id}/timeline", summary="The account's timeline, oldest first")
async def get_timeline(
    account_id: AccountId, services: ServicesDep, options: OptionsDep
) -> JSONResponse:
    rows = await db_call(fetch_timeline(services.need_pool(), account_id))
    if not rows:
        # No rows yet: an unknown account is a 404, a journey just started an empty timeline.
        try:
            await bounded(
                options.temporal_timeout, journey_state(services.need_client(), account_id), "state"
            )
        except JourneyError as err:
            if err.kind == "unknown_account":
                raise journey_error(err) from None
        except ApiError:
            pass  # Temporal is away; an empty timeline is still the truth Postgres has
    # As the table keeps them: `occurred_at` on the journey's clock, `recorded_at` (when
    # Postgres wrote the row) real, for operators matching rows with logs.
    events = [row.model_dump(mode="json") for row in rows]
    return JSONResponse({"account_id": account_id, "events": events})
