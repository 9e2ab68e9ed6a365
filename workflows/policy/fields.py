"""The field types and vocabularies a policy is written in, shared by its models and checks."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from workflows.models import ID_PATTERN, KEY_PATTERN, HealthColour

__all__ = [
    "DEFAULT_ROLES",
    "MEASURES",
    "NAME_PATTERN",
    "Days",
    "HealthColour",
    "Key",
    "MeasureKey",
    "Owner",
    "PositiveDays",
    "Touch",
]

Touch = Literal["tech", "low", "high"]
Owner = Literal["csm", "customer", "system"]
MeasureKey = Literal["adoption", "support", "sentiment", "contact_stability"]
MEASURES: tuple[MeasureKey, ...] = ("adoption", "support", "sentiment", "contact_stability")
DEFAULT_ROLES: tuple[str, ...] = ("csm", "cs_manager", "account_executive", "support_lead")

# A policy's name ends up in workflow ids and URLs, like an account id.
NAME_PATTERN = ID_PATTERN
Key = Annotated[str, Field(pattern=KEY_PATTERN)]
# Durations are days; infinity and NaN would not survive JSON, so they are refused here.
Days = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PositiveDays = Annotated[float, Field(gt=0, allow_inf_nan=False)]
