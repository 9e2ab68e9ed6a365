"""The account a journey is about, in the domain's words.

Imported by workflows, so nothing here reads settings or touches I/O.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Persona = Literal["admin", "champion", "end_user", "executive_sponsor"]
PERSONAS: tuple[Persona, ...] = ("admin", "champion", "end_user", "executive_sponsor")

# Ids end up in workflow ids and URLs; keep them boring so they need no escaping.
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
# Keys (of milestones, plays, steps, roles) end up in workflow ids, idempotency keys and dotted
# error paths: plainer still, so `plays.rescue.steps.call` reads as a path.
KEY_PATTERN = r"^[a-z][a-z0-9_]{0,47}$"

# The colours a health score takes, and what a journey shows before its first score.
HealthColour = Literal["green", "yellow", "red"]
HEALTH_COLOURS: tuple[HealthColour, ...] = ("green", "yellow", "red")
Unscored = Literal["unscored"]
UNSCORED: Unscored = "unscored"
HealthLabel = HealthColour | Unscored
HEALTH_LABELS: tuple[HealthLabel, ...] = (*HEALTH_COLOURS, UNSCORED)


class Contact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    contact_id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1)
    email: str | None = None
    persona: Persona
    key: bool = Field(default=False, description="A key contact: their leaving starts a play.")


class Account(BaseModel):
    """One customer account under contract."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account_id: str = Field(pattern=ID_PATTERN, description="Lowercase letters, digits, - and _.")
    name: str = Field(min_length=1)
    segment: str = Field(min_length=1, description="e.g. smb, mid_market, enterprise")
    tier: str = Field(min_length=1, description="e.g. base, plus, premium")
    add_ons: tuple[str, ...] = ()
    seats: int = Field(ge=1)
    contract_start: date
    contract_end: date
    csm: str = Field(min_length=1, description="The customer-success manager who owns it.")
    contacts: tuple[Contact, ...] = ()

    @model_validator(mode="after")
    def _contract_runs_forward(self) -> Account:
        if self.contract_end <= self.contract_start:
            raise ValueError(
                "contract_end must be after contract_start "
                f"(got {self.contract_start} → {self.contract_end})"
            )
        return self
