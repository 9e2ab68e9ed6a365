"""`POST /contracts`: a contract starts (or finds) the account's journey, links it to HubSpot,
and delivers the events that were parked waiting for it."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.client import Client

from starter.api.body import StrictJson
from starter.api.calls import bounded, journey_error
from starter.api.deps import (
    Authorized,
    OptionsDep,
    ServicesDep,
    SettingsDep,
)
from starter.api.errors import ApiError, FieldError, responses
from starter.ingress import inbox
from starter.ingress.events import check_time
from starter.journeys import JourneyError, journey_state, start_journey
from store.errors import DB_ERRORS
from workflows.journey.messages import JourneyInput
from workflows.journey.workflow import journey_id
from workflows.models import ID_PATTERN, Account
from workflows.policy import Policy, PolicyError, load_policy

log = structlog.get_logger(__name__)

# A policy file under policies/: a policy name (an id), with or without its extension.
POLICY_NAME = ID_PATTERN.removesuffix("$") + r"(\.ya?ml)?$"
# What a second contract for a running journey must repeat; anything else is a conflict.
COMPARED = ("segment", "tier", "contract_start", "contract_end")

router = APIRouter(route_class=StrictJson, dependencies=[Authorized])


class HubSpotLinks(BaseModel):
    """How the account appears in HubSpot, so HubSpot webhooks reach its journey."""

    model_config = ConfigDict(extra="forbid")

    company_id: str = Field(pattern=r"^[0-9]{1,20}$", description="The HubSpot company id.")
    contacts: dict[Annotated[str, Field(pattern=r"^[0-9]{1,20}$")], str] = Field(
        default_factory=dict,
        description="HubSpot contact id → the account's contact_id.",
        max_length=1000,
    )


class ContractRequest(BaseModel):
    """`POST /contracts`: a contract starts (or finds) the account's journey."""

    model_config = ConfigDict(extra="forbid")

    account: Account
    policy: str | None = Field(
        default=None,
        pattern=POLICY_NAME,
        description="A policy under policies/ by name (e.g. risk-management); default: settings.",
    )
    hubspot: HubSpotLinks | None = None


class ContractResult(BaseModel):
    account_id: str
    workflow_id: str
    run_id: str
    created: bool
    parked_delivered: int = Field(description="Events that waited for this journey, now sent.")


@router.post(
    "/contracts",
    status_code=201,
    response_model=ContractResult,
    responses={200: {"model": ContractResult}, **responses(401, 404, 409, 422, 503)},
    summary="Start the account's journey from its contract",
)
async def post_contract(
    contract: ContractRequest,
    settings: SettingsDep,
    options: OptionsDep,
    services: ServicesDep,
) -> JSONResponse:
    account = contract.account
    for name in ("contract_start", "contract_end"):
        check_time(
            datetime.combine(getattr(account, name), datetime.min.time(), UTC), f"account.{name}"
        )
    with structlog.contextvars.bound_contextvars(account_id=account.account_id):
        policy = _policy(settings.policy_file, contract.policy)
        # Only now: a bad contract is a 422 even while Temporal or Postgres is away.
        client, pool = services.need_client(), services.need_pool()
        started = await bounded(
            options.temporal_timeout,
            start_journey(
                client,
                account,
                policy,
                task_queue=settings.task_queue,
                day_seconds=settings.day_seconds,
            ),
            "start journey",
        )
        if not started.created:
            await _check_same_contract(client, account, options.temporal_timeout)
        if contract.hubspot is not None:
            await inbox.link_hubspot(
                pool, account, contract.hubspot.company_id, contract.hubspot.contacts
            )
        delivered = 0
        try:
            outcomes = await inbox.deliver(
                pool,
                client,
                account_ids=[account.account_id],
                unresolved=contract.hubspot is not None,
                ignore_backoff=True,
                send_timeout=options.delivery_timeout,
                mapping=options.hubspot,
            )
            delivered = sum(o.status == "delivered" for o in outcomes)
        except DB_ERRORS as err:
            log.warning("parked events not delivered now; the relay will", error=str(err))
        log.info("contract received", created=started.created, parked_delivered=delivered)
    result = ContractResult(
        account_id=account.account_id,
        workflow_id=started.workflow_id,
        run_id=started.run_id,
        created=started.created,
        parked_delivered=delivered,
    )
    return JSONResponse(result.model_dump(), status_code=201 if started.created else 200)


def _policy(default: Path, name: str | None) -> Policy:
    """The default policy, or one by name from the same directory."""
    if name is None:
        return _load_policy(default.resolve())
    directory = default.parent.resolve()
    file = directory / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    if not file.is_file():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.yaml")))
        message = f"no policy {name!r} (known: {known})"
        raise ApiError(422, "unknown_policy", message, [FieldError(path="policy", message=message)])
    try:
        return _load_policy(file)
    except PolicyError as err:
        message = f"policy {name!r} is invalid: {'; '.join(err.errors[:5])}"
        raise ApiError(
            422, "invalid_policy", message, [FieldError(path="policy", message=message)]
        ) from None


@cache
def _load_policy(file: Path) -> Policy:
    return load_policy(file)


async def _check_same_contract(client: Client, account: Account, seconds: float) -> None:
    """409 unless the running journey was started with this contract (same segment, tier and
    dates). Compared with the account the journey pinned at start, read from its history (no
    worker needed); its live state when that cannot be read."""
    try:
        running = await bounded(seconds, _running_contract(client, account.account_id), "contract")
    except JourneyError as err:
        raise journey_error(err) from None
    diffs = [
        FieldError(
            path=f"account.{name}",
            message=f"the running journey has {running[name]}, not {getattr(account, name)}",
        )
        for name in COMPARED
        if running.get(name) is not None and running[name] != getattr(account, name)
    ]
    if diffs:
        summary = "; ".join(f"{d.path.removeprefix('account.')}: {d.message}" for d in diffs)
        raise ApiError(
            409,
            "conflict",
            f"a journey for '{account.account_id}' is already running with another contract "
            f"({summary}); renew or end it instead of posting a new one",
            diffs,
        )


async def _running_contract(client: Client, account_id: str) -> dict[str, Any]:
    handle = client.get_workflow_handle(journey_id(account_id))
    try:
        async for event in handle.fetch_history_events(page_size=1):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            [pinned] = await client.data_converter.decode(payloads, [JourneyInput])
            if not isinstance(pinned, JourneyInput):
                raise TypeError(f"the first event holds a {type(pinned).__name__}")
            return {name: getattr(pinned.account, name) for name in COMPARED}
    except (ValueError, TypeError, ValidationError) as err:
        log.info("journey input unreadable; comparing with its state", error=str(err))
    state = await journey_state(client, account_id)
    return {name: getattr(state, name, None) for name in COMPARED}


__all__ = ["ContractRequest", "ContractResult", "HubSpotLinks", "router"]
