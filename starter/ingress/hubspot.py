"""HubSpot webhook events in the journey's words. Pure: no I/O, no settings.

A HubSpot payload is an array of events about CRM objects (companies, contacts, tickets) by
HubSpot id. Two steps turn one into a journey signal:

1. `interpret` (when the webhook arrives): does the policy care about this subscription, and
   what would the signal say? The result is a `Draft` naming the object it is about, or
   `Ignored` with the reason. `link_updates` says what the event teaches about which contact or
   ticket belongs to which company.
2. `resolve` (when the inbox delivers it): with the links known by then, which account is it
   for? A company is linked to an account when its contract is posted; contacts and tickets
   reach an account through their company. An event whose object is not linked yet waits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from workflows.models import Persona
from workflows.policy import MeasureKey

ObjectType = Literal["company", "contact", "ticket"]
Severity = Literal["low", "medium", "high", "critical"]
MAX_EVENTS = 1000


class HubSpotEvent(BaseModel):
    """One event of a HubSpot webhook payload (v3 subscriptions; unknown fields are kept)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    event_id: int = Field(alias="eventId", ge=0, lt=2**63)
    subscription_type: str = Field(
        alias="subscriptionType",
        min_length=3,
        max_length=100,
        description="e.g. company.propertyChange, contact.associationChange",
    )
    occurred_at: int = Field(
        alias="occurredAt",
        ge=0,
        lt=7_258_118_400_000,  # 2200-01-01
        description="Unix time in milliseconds.",
    )
    object_id: int | None = Field(default=None, alias="objectId", ge=0, lt=2**63)
    property_name: str | None = Field(default=None, alias="propertyName", max_length=200)
    property_value: str | None = Field(default=None, alias="propertyValue", max_length=2000)
    attempt_number: int = Field(default=0, alias="attemptNumber", ge=0, lt=2**31)
    portal_id: int | None = Field(default=None, alias="portalId", ge=0, lt=2**63)
    subscription_id: int | None = Field(default=None, alias="subscriptionId", ge=0, lt=2**63)
    association_type: str | None = Field(default=None, alias="associationType", max_length=100)
    from_object_id: int | None = Field(default=None, alias="fromObjectId", ge=0, lt=2**63)
    to_object_id: int | None = Field(default=None, alias="toObjectId", ge=0, lt=2**63)
    association_removed: bool | None = Field(default=None, alias="associationRemoved")

    @property
    def subject_id(self) -> int | None:
        return self.object_id if self.object_id is not None else self.from_object_id

    @property
    def inbox_id(self) -> str:
        """Unique per event and stable across HubSpot's retries (attemptNumber is left out)."""
        return f"hs-{self.event_id}-{self.subscription_type}-{self.subject_id}"

    @property
    def occurred(self) -> datetime:
        return datetime.fromtimestamp(self.occurred_at / 1000, tz=UTC)


class HubSpotPayload(RootModel[list[HubSpotEvent]]):
    root: list[HubSpotEvent] = Field(min_length=1, max_length=MAX_EVENTS)


class HubSpotMapping(BaseModel):
    """Which HubSpot properties mean what; the defaults are custom properties named waypost_*."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    health_properties: dict[str, MeasureKey] = {
        "waypost_health_adoption": "adoption",
        "waypost_health_support": "support",
        "waypost_health_sentiment": "sentiment",
        "waypost_health_contact_stability": "contact_stability",
    }
    persona_property: str = "waypost_persona"
    persona_values: dict[str, Persona] = {
        "admin": "admin",
        "champion": "champion",
        "end_user": "end_user",
        "executive_sponsor": "executive_sponsor",
        "decision_maker": "executive_sponsor",
    }
    default_persona: Persona = Field(
        default="champion", description="For a contact whose persona nobody told us."
    )
    escalation_property: str = "hs_ticket_priority"
    escalation_values: dict[str, Severity] = {"HIGH": "high", "URGENT": "critical"}


class ObjectRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    object_type: ObjectType
    object_id: str

    def __str__(self) -> str:
        return f"hubspot {self.object_type} {self.object_id}"


class Draft(BaseModel):
    """A signal still missing what only links can tell: its account (and a contact's persona)."""

    model_config = ConfigDict(frozen=True)

    kind: str
    ref: ObjectRef
    fields: dict[str, Any]


class Ignored(BaseModel):
    model_config = ConfigDict(frozen=True)

    reason: str


class Link(BaseModel):
    """What Waypost knows about a HubSpot object: a company's account; a contact's or ticket's
    company; a contact's id and persona in the account."""

    model_config = ConfigDict(frozen=True)

    account_id: str | None = None
    company_id: str | None = None
    contact_id: str | None = None
    persona: Persona | None = None


class LinkUpdate(BaseModel):
    model_config = ConfigDict(frozen=True)

    ref: ObjectRef
    company_id: str | None = None
    persona: Persona | None = None


class Resolved(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_id: str
    kind: str
    fields: dict[str, Any]


def _object_type(event: HubSpotEvent) -> str:
    return event.subscription_type.partition(".")[0]


def _change(event: HubSpotEvent) -> str:
    return event.subscription_type.partition(".")[2]


def _contact_to_company(event: HubSpotEvent) -> bool:
    return (event.association_type or "").upper() == "CONTACT_TO_COMPANY"


def interpret(event: HubSpotEvent, mapping: HubSpotMapping) -> Draft | Ignored:
    """What the event means for a journey, or why it means nothing."""
    subject = event.subject_id
    if subject is None:
        return Ignored(reason=f"{event.subscription_type} names no object (objectId)")
    read = _READERS.get((_object_type(event), _change(event)))
    if read is None:
        return Ignored(
            reason=f"subscription {event.subscription_type!r} is not one the policy uses"
        )
    base: dict[str, Any] = {"event_id": event.inbox_id, "occurred_at": event.occurred.isoformat()}
    return read(event, mapping, str(subject), base)


def _company_property(
    event: HubSpotEvent, mapping: HubSpotMapping, subject: str, base: dict[str, Any]
) -> Draft | Ignored:
    value = event.property_value
    measure = mapping.health_properties.get(event.property_name or "")
    if measure is None:
        return Ignored(reason=f"company property {event.property_name!r} is not a measure")
    score = _score(value)
    if score is None:
        return Ignored(
            reason=f"company property {event.property_name!r}: {value!r} is not a number "
            "from 0 to 100"
        )
    return Draft(
        kind="health_measured",
        ref=ObjectRef(object_type="company", object_id=subject),
        fields={**base, "measure": measure, "value": score, "note": "from HubSpot"},
    )


def _contact_property(
    event: HubSpotEvent, mapping: HubSpotMapping, subject: str, base: dict[str, Any]
) -> Draft | Ignored:
    value = event.property_value
    if event.property_name != mapping.persona_property:
        return Ignored(reason=f"contact property {event.property_name!r} is not the role")
    persona = mapping.persona_values.get((value or "").strip().lower())
    if persona is None:
        known = ", ".join(sorted(mapping.persona_values))
        return Ignored(reason=f"contact role {value!r} is not a persona (known: {known})")
    return Draft(
        kind="key_contact_changed",
        ref=ObjectRef(object_type="contact", object_id=subject),
        fields={**base, "change": "role_changed", "persona": persona},
    )


def _contact_association(
    event: HubSpotEvent, mapping: HubSpotMapping, subject: str, base: dict[str, Any]
) -> Draft | Ignored:
    if not _contact_to_company(event):
        return Ignored(reason=f"association {event.association_type!r} is not contact→company")
    return Draft(
        kind="key_contact_changed",
        ref=ObjectRef(object_type="contact", object_id=subject),
        fields={**base, "change": "left" if event.association_removed else "joined"},
    )


def _contact_deletion(
    event: HubSpotEvent, mapping: HubSpotMapping, subject: str, base: dict[str, Any]
) -> Draft | Ignored:
    return Draft(
        kind="key_contact_changed",
        ref=ObjectRef(object_type="contact", object_id=subject),
        fields={**base, "change": "left"},
    )


def _ticket_property(
    event: HubSpotEvent, mapping: HubSpotMapping, subject: str, base: dict[str, Any]
) -> Draft | Ignored:
    value = event.property_value
    if event.property_name != mapping.escalation_property:
        return Ignored(reason=f"ticket property {event.property_name!r} is not escalation")
    severity = mapping.escalation_values.get((value or "").strip().upper())
    if severity is None:
        return Ignored(reason=f"ticket {event.property_name} {value!r} is no escalation")
    return Draft(
        kind="support_escalated",
        ref=ObjectRef(object_type="ticket", object_id=subject),
        fields={**base, "ticket_id": f"hs-{subject}", "severity": severity},
    )


_Reader = Callable[[HubSpotEvent, HubSpotMapping, str, dict[str, Any]], Draft | Ignored]

# The subscriptions the policy uses, by (object type, change); any other is ignored.
_READERS: dict[tuple[str, str], _Reader] = {
    ("company", "propertyChange"): _company_property,
    ("contact", "propertyChange"): _contact_property,
    ("contact", "associationChange"): _contact_association,
    ("contact", "deletion"): _contact_deletion,
    ("ticket", "propertyChange"): _ticket_property,
}


def link_updates(event: HubSpotEvent, mapping: HubSpotMapping) -> list[LinkUpdate]:
    """What the event tells about links: which company a contact or ticket belongs to, and a
    contact's persona. A removed association keeps its link, so "left" can still be routed."""
    kind, change = _object_type(event), _change(event)
    subject = event.subject_id
    if subject is None:
        return []
    if change == "associationChange" and event.to_object_id is not None:
        association = (event.association_type or "").upper()
        if kind == "contact" and association == "CONTACT_TO_COMPANY":
            ref = ObjectRef(object_type="contact", object_id=str(subject))
            return [LinkUpdate(ref=ref, company_id=str(event.to_object_id))]
        if kind == "ticket" and association == "TICKET_TO_COMPANY":
            ref = ObjectRef(object_type="ticket", object_id=str(subject))
            return [LinkUpdate(ref=ref, company_id=str(event.to_object_id))]
    persona_change = change == "propertyChange" and event.property_name == mapping.persona_property
    if kind == "contact" and persona_change:
        persona = mapping.persona_values.get((event.property_value or "").strip().lower())
        if persona is not None:
            ref = ObjectRef(object_type="contact", object_id=str(subject))
            return [LinkUpdate(ref=ref, persona=persona)]
    return []


def company_of(ref: ObjectRef, links: dict[ObjectRef, Link]) -> str | None:
    """The HubSpot company an object belongs to, as far as the links know."""
    if ref.object_type == "company":
        return ref.object_id
    link = links.get(ref)
    return link.company_id if link else None


def resolve(draft: Draft, links: dict[ObjectRef, Link], mapping: HubSpotMapping) -> Resolved | str:
    """The signal for an account, or why it cannot be routed yet (the event waits)."""
    company = company_of(draft.ref, links)
    if company is None:
        return f"{draft.ref} is not associated with a company Waypost knows yet"
    company_link = links.get(ObjectRef(object_type="company", object_id=company))
    if company_link is None or company_link.account_id is None:
        return (
            f"hubspot company {company} is not linked to an account yet "
            "(post its contract with hubspot.company_id)"
        )
    fields = dict(draft.fields)
    if draft.ref.object_type == "contact":
        link = links.get(draft.ref) or Link()
        fields["contact_id"] = link.contact_id or f"hs-{draft.ref.object_id}"
        fields.setdefault("persona", link.persona or mapping.default_persona)
    return Resolved(account_id=company_link.account_id, kind=draft.kind, fields=fields)


def _score(value: str | None) -> float | None:
    try:
        score = float((value or "").strip())
    except ValueError:
        return None
    return score if 0.0 <= score <= 100.0 else None  # NaN fails both comparisons
