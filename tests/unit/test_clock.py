"""Journey time against real time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workflows.clock import JourneyClock

REAL0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def test_compressed_days_map_onto_the_contract_calendar() -> None:
    clock = JourneyClock(REAL0, EPOCH, day_seconds=0.5)
    later = REAL0 + timedelta(seconds=5)
    assert clock.day(later) == 10
    assert clock.at(later) == EPOCH + timedelta(days=10)
    assert clock.seconds_until(12, later) == 1.0
    assert clock.seconds_until(3, later) == 0.0


def test_event_stamps_are_placed_between_day_zero_and_now() -> None:
    clock = JourneyClock(REAL0, EPOCH, day_seconds=0.5)
    now = REAL0 + timedelta(seconds=5)
    assert clock.event_time(REAL0 - timedelta(days=300), now) == EPOCH
    assert clock.event_time(now + timedelta(hours=1), now) == clock.at(now)
    assert clock.event_time(REAL0 + timedelta(seconds=1), now) == EPOCH + timedelta(days=2)


def test_real_days_are_real_time() -> None:
    clock = JourneyClock(REAL0, REAL0, day_seconds=86400)
    stamp = REAL0 - timedelta(days=3)
    assert clock.event_time(stamp, REAL0) == stamp
    assert clock.at(REAL0 + timedelta(days=2)) == REAL0 + timedelta(days=2)
