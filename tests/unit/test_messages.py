"""Signal models: the shapes a CRM may send, and the errors that name what to fix."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from workflows.journey.messages import UsageReported

AT = datetime(2026, 3, 6, 17, tzinfo=UTC)


def test_one_persons_usage_is_on_the_day_it_happened_or_on_its_dates() -> None:
    single = UsageReported(event_id="u1", occurred_at=AT, persona="admin")
    assert single.days_by_persona(date(2026, 3, 6)) == {"admin": [date(2026, 3, 6)]}
    dated = UsageReported(
        event_id="u2", occurred_at=AT, persona="champion", active_on=["2026-03-03", "2026-03-02"]
    )
    assert dated.days_by_persona(date(2026, 3, 6)) == {
        "champion": [date(2026, 3, 2), date(2026, 3, 3)]
    }


def test_an_account_rollup_is_one_signal_for_every_persona() -> None:
    rollup = UsageReported.model_validate(
        {
            "event_id": "w10",
            "occurred_at": AT,
            "by_persona": {"admin": ["2026-03-02", "2026-03-02"], "end_user": []},
        }
    )
    assert rollup.days_by_persona(date(2026, 3, 6)) == {
        "admin": [date(2026, 3, 2)],
        "end_user": [],
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "give `persona` (one person's usage) or `by_persona`"),
        ({"persona": "admin", "by_persona": {"admin": []}}, "not both"),
        ({"by_persona": {"admin": []}, "active_on": ["2026-03-02"]}, "drop `active_on`"),
    ],
)
def test_a_usage_event_in_neither_or_both_shapes_names_the_field(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        UsageReported.model_validate({"event_id": "u", "occurred_at": AT, **fields})
    [error] = caught.value.errors()
    assert error["loc"] == ("by_persona",)
    assert message in error["msg"]


def test_a_bad_persona_is_one_error_on_persona() -> None:
    with pytest.raises(ValidationError) as caught:
        UsageReported.model_validate({"event_id": "u", "occurred_at": AT, "persona": "boss"})
    assert [e["loc"] for e in caught.value.errors()] == [("persona",)]
