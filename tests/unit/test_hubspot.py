"""HubSpot events in the journey's words: which subscriptions matter and where they go."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from starter.ingress.hubspot import (
    Draft,
    HubSpotEvent,
    HubSpotMapping,
    HubSpotPayload,
    Ignored,
    Link,
    ObjectRef,
    Resolved,
    interpret,
    link_updates,
    resolve,
)
from workflows.journey.messages import SIGNALS

MAPPING = HubSpotMapping()
COMPANY = ObjectRef(object_type="company", object_id="900")
LINKED = {COMPANY: Link(account_id="acme")}


def _event(**fields: Any) -> HubSpotEvent:
    base: dict[str, Any] = {
        "eventId": 42,
        "subscriptionType": "company.propertyChange",
        "objectId": 900,
        "occurredAt": 1_780_000_000_000,
        "attemptNumber": 0,
    }
    return HubSpotEvent.model_validate(base | fields)


def _signal(event: HubSpotEvent, links: dict[ObjectRef, Link]) -> Resolved:
    draft = interpret(event, MAPPING)
    assert isinstance(draft, Draft), draft
    resolved = resolve(draft, links, MAPPING)
    assert isinstance(resolved, Resolved), resolved
    SIGNALS[resolved.kind].model_validate(resolved.fields)  # a valid signal
    return resolved


def test_company_health_property_becomes_health_measured() -> None:
    event = _event(propertyName="waypost_health_sentiment", propertyValue="35.5")
    signal = _signal(event, LINKED)
    assert signal.account_id == "acme"
    assert signal.kind == "health_measured"
    assert signal.fields["measure"] == "sentiment"
    assert signal.fields["value"] == 35.5
    assert signal.fields["occurred_at"].startswith("2026-05-28T")


def test_contact_leaving_the_company_becomes_key_contact_changed() -> None:
    event = _event(
        subscriptionType="contact.associationChange",
        objectId=None,
        fromObjectId=501,
        toObjectId=900,
        associationType="CONTACT_TO_COMPANY",
        associationRemoved=True,
    )
    updates = link_updates(event, MAPPING)
    contact = ObjectRef(object_type="contact", object_id="501")
    assert [(u.ref, u.company_id) for u in updates] == [(contact, "900")]
    links = {
        **LINKED,
        contact: Link(company_id="900", contact_id="jane", persona="executive_sponsor"),
    }
    signal = _signal(event, links)
    assert signal.kind == "key_contact_changed"
    assert signal.fields["change"] == "left"
    assert signal.fields["contact_id"] == "jane"
    assert signal.fields["persona"] == "executive_sponsor"


def test_contact_role_change_uses_the_new_persona() -> None:
    event = _event(
        subscriptionType="contact.propertyChange",
        objectId=501,
        propertyName="waypost_persona",
        propertyValue="Champion",
    )
    contact = ObjectRef(object_type="contact", object_id="501")
    links = {**LINKED, contact: Link(company_id="900", persona="admin")}
    signal = _signal(event, links)
    assert signal.fields["change"] == "role_changed"
    assert signal.fields["persona"] == "champion"
    assert signal.fields["contact_id"] == "hs-501"
    assert [u.persona for u in link_updates(event, MAPPING)] == ["champion"]


def test_ticket_escalation_becomes_support_escalated_through_its_company() -> None:
    event = _event(
        subscriptionType="ticket.propertyChange",
        objectId=77,
        propertyName="hs_ticket_priority",
        propertyValue="URGENT",
    )
    ticket = ObjectRef(object_type="ticket", object_id="77")
    signal = _signal(event, {**LINKED, ticket: Link(company_id="900")})
    assert signal.kind == "support_escalated"
    assert signal.fields["severity"] == "critical"
    assert signal.fields["ticket_id"] == "hs-77"


@pytest.mark.parametrize(
    "fields",
    [
        {"propertyName": "name", "propertyValue": "Acme"},
        {"propertyName": "waypost_health_support", "propertyValue": "lots"},
        {"propertyName": "waypost_health_support", "propertyValue": "140"},
        {"propertyName": "waypost_health_support", "propertyValue": "nan"},
        {"subscriptionType": "deal.creation"},
        {"subscriptionType": "company.associationChange", "associationType": "COMPANY_TO_CONTACT"},
        {"subscriptionType": "ticket.propertyChange", "propertyName": "hs_ticket_priority"},
    ],
)
def test_what_the_policy_does_not_use_is_ignored_with_a_reason(fields: dict[str, Any]) -> None:
    meaning = interpret(_event(**fields), MAPPING)
    assert isinstance(meaning, Ignored)
    assert meaning.reason


def test_an_object_not_linked_yet_waits_with_the_reason() -> None:
    draft = interpret(_event(propertyName="waypost_health_support", propertyValue="80"), MAPPING)
    assert isinstance(draft, Draft)
    reason = resolve(draft, {}, MAPPING)
    assert isinstance(reason, str)
    assert "company 900 is not linked" in reason
    ticket = interpret(
        _event(
            subscriptionType="ticket.propertyChange",
            objectId=7,
            propertyName="hs_ticket_priority",
            propertyValue="HIGH",
        ),
        MAPPING,
    )
    assert isinstance(ticket, Draft)
    assert "not associated with a company" in str(resolve(ticket, LINKED, MAPPING))


def test_inbox_id_is_stable_across_hubspot_retries() -> None:
    first = _event(propertyName="waypost_health_support", propertyValue="80")
    retry = _event(propertyName="waypost_health_support", propertyValue="80", attemptNumber=3)
    assert first.inbox_id == retry.inbox_id
    assert first.inbox_id != _event(eventId=43).inbox_id


def test_payload_errors_name_the_field() -> None:
    with pytest.raises(ValidationError) as refused:
        HubSpotPayload.model_validate([{"eventId": "x", "subscriptionType": "company.creation"}])
    paths = {tuple(e["loc"]) for e in refused.value.errors()}
    assert (0, "eventId") in paths
    assert (0, "occurredAt") in paths
    with pytest.raises(ValidationError):
        HubSpotPayload.model_validate([])
