"""Journey time: policy days mapped onto real time by the journey's `day_seconds`.

In production a day is 86400 s and journey time is real time. Tests and the demo compress
days to fractions of a second; the same code then runs years of journey in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

DAY = timedelta(days=1)
DAY_SECONDS = DAY.total_seconds()  # a journey day in production


@dataclass(frozen=True)
class JourneyClock:
    started_at: datetime  # real instant of day 0
    epoch: datetime  # journey time at day 0
    day_seconds: float

    def day(self, real_now: datetime) -> float:
        """Journey day number at a real instant (day 0 is the start)."""
        return (real_now - self.started_at).total_seconds() / self.day_seconds

    def at(self, real_now: datetime) -> datetime:
        """Journey date and time at a real instant."""
        return self.epoch + self.day(real_now) * DAY

    def today(self, real_now: datetime) -> date:
        return self.at(real_now).date()

    def day_of(self, journey_time: datetime) -> float:
        return (journey_time - self.epoch) / DAY

    def time_of(self, day: float) -> datetime:
        return self.epoch + day * DAY

    def seconds_until(self, day: float, real_now: datetime) -> float:
        """Real seconds from now until journey day `day` (0 if it has passed)."""
        return max(0.0, (day - self.day(real_now)) * self.day_seconds)

    def event_time(self, occurred_at: datetime, real_now: datetime) -> datetime:
        """Journey time of an external event stamped in real time.

        Production: the same instant. Compressed: the sender's clock runs at real speed, so
        its stamp is placed on the journey clock, within day 0 and journey-now.
        """
        if self.day_seconds == DAY_SECONDS:
            return occurred_at
        return self.at(min(max(occurred_at, self.started_at), real_now))


def midnight(day: date, like: datetime) -> datetime:
    """A date as the start of that day, in the time zone of `like` (naive stays naive)."""
    return datetime(day.year, day.month, day.day, tzinfo=like.tzinfo)
