"""The event ledger: duplicates ignored, stale events refused, order never matters."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.journey.ledger import EventLedger

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_repeated_event_id_is_a_duplicate() -> None:
    ledger = EventLedger()
    assert ledger.admit("e1", "health:support", T0) == "apply"
    assert ledger.admit("e1", "health:support", T0) == "duplicate"
    assert (ledger.applied, ledger.duplicates) == (1, 1)


def test_an_event_older_than_the_last_applied_for_its_stream_is_stale() -> None:
    ledger = EventLedger()
    assert ledger.admit("new", "contact:ann", T0 + timedelta(hours=1)) == "apply"
    assert ledger.admit("old", "contact:ann", T0) == "stale"
    # Another stream is judged on its own.
    assert ledger.admit("other", "contact:bob", T0) == "apply"
    # Streamless events (usage on a day) are only de-duplicated.
    assert ledger.admit("u1", None, T0 - timedelta(days=9)) == "apply"


def test_the_seen_set_is_bounded_and_survives_a_round_trip() -> None:
    ledger = EventLedger(max_seen=3)
    for i in range(5):
        ledger.admit(f"e{i}", None, T0)
    assert ledger.seen == ["e2", "e3", "e4"]
    carried = EventLedger.model_validate_json(ledger.model_dump_json())
    assert carried.admit("e4", None, T0) == "duplicate"
    assert carried.admit("e0", None, T0) == "apply"  # forgotten: beyond the window


Event = tuple[str, str, int, int]  # (event id, stream, minute, value)

events = st.lists(
    st.tuples(
        st.sampled_from(["health:support", "health:sentiment", "contact:ann"]), st.integers(0, 100)
    ),
    min_size=1,
    max_size=25,
).map(lambda items: [(f"e{i}", stream, i, value) for i, (stream, value) in enumerate(items)])


def _final(stream_of_events: list[Event]) -> dict[str, int]:
    ledger = EventLedger()
    state: dict[str, int] = {}
    for event_id, stream, minute, value in stream_of_events:
        if ledger.admit(event_id, stream, T0 + timedelta(minutes=minute)) == "apply":
            state[stream] = value
    return state


@settings(max_examples=200, deadline=None)
@given(events, st.randoms(use_true_random=False), st.integers(0, 10))
def test_any_reordering_with_duplicates_ends_as_the_in_order_stream(
    in_order: list[Event], rnd: random.Random, extra: int
) -> None:
    burst = in_order + [rnd.choice(in_order) for _ in range(extra)]
    rnd.shuffle(burst)
    assert _final(burst) == _final(in_order)
