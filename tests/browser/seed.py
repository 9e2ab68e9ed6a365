"""A small portfolio of journeys with known colours, for the dashboard and `waypost list` tests
(tests/integration/test_dashboard.py, test_list.py and the browser test share it).

Five accounts: two enterprise accounts that turn green → yellow (each starts the
"Recover from yellow health" play), one enterprise account that stays green, one smb account
that turns green → red, and one smb account never scored whose contract ends in 60 days.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starter.journeys import journey_state, send_event
from starter.portfolio import Filters, JourneyRow, find_journeys
from tests.helpers import Journeys
from tests.waiting import eventually
from workflows.journey import names
from workflows.journey.messages import HealthMeasured
from workflows.journey.state import JourneyState
from workflows.models import Account

# Long journey days: nothing falls due while a test looks, so what it counts stays put.
DAY_SECONDS = 30.0
START = date(2026, 1, 1)


@dataclass
class Seeded:
    accounts: dict[str, Account]  # by role: yellow_1, yellow_2, green, red, unscored
    colours: dict[str, str] = field(default_factory=dict)  # account_id → expected colour
    states: dict[str, JourneyState] = field(default_factory=dict)

    def ids(self, *roles: str) -> list[str]:
        return sorted(self.accounts[r].account_id for r in roles)


def _measured(value: float, note: str | None, at: datetime) -> HealthMeasured:
    return HealthMeasured(
        event_id=f"ev-{uuid.uuid4().hex[:12]}",
        occurred_at=at,
        measure="support",
        value=value,
        note=note,
    )


async def seed_portfolio(
    journeys: Journeys, make_account: Callable[..., Account], *, prefix: str = ""
) -> Seeded:
    """The five journeys, started by `journeys` (on its client and task queue, with its policy)."""
    client, task_queue = journeys.client, journeys.task_queue

    def account(role: str, **fields: Any) -> Account:
        name = f"{prefix}{role.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
        return make_account(account_id=name, name=f"{role} & Co <test>", **fields)

    roles = {
        "yellow_1": account("yellow_1", segment="enterprise", tier="premium", csm="dana"),
        "yellow_2": account("yellow_2", segment="enterprise", tier="plus", csm="lee"),
        "green": account("green", segment="enterprise", tier="premium", csm="dana"),
        "red": account("red", segment="smb", csm="sam"),
        "unscored": account(
            "unscored", segment="smb", csm="sam", contract_end=START + timedelta(days=60)
        ),
    }
    seeded = Seeded(accounts=roles)
    for a in roles.values():
        await journeys.start(a, day_seconds=DAY_SECONDS)
    t0 = datetime.now(UTC)
    first = {"yellow_1": 90.0, "yellow_2": 88.0, "green": 95.0, "red": 92.0}
    then = {"yellow_1": (50.0, "3 escalations in 30 days"), "yellow_2": (45.0, "renewal doubts")}
    then["red"] = (10.0, "outage, 9 escalations")
    for role, value in first.items():
        event = _measured(value, None, t0)
        await send_event(client, roles[role].account_id, names.HEALTH_MEASURED, event)
    for role, (value, note) in then.items():
        later = _measured(value, note, t0 + timedelta(seconds=1))
        await send_event(client, roles[role].account_id, names.HEALTH_MEASURED, later)
    expected = {"yellow_1": "yellow", "yellow_2": "yellow", "green": "green", "red": "red"}
    seeded.colours = {a.account_id: expected.get(r, "unscored") for r, a in roles.items()}

    async def now() -> tuple[list[JourneyRow], dict[str, JourneyState]]:
        rows, _ = await find_journeys(client, Filters(task_queue=task_queue))
        states = {a.account_id: await journey_state(client, a.account_id) for a in roles.values()}
        return rows, states

    def settled(seen: tuple[list[JourneyRow], dict[str, JourneyState]]) -> bool:
        rows, states = seen
        played = [roles[r].account_id for r in ("yellow_1", "yellow_2", "red")]
        return (
            {s.account_id: s.health_colour for s in states.values()} == seeded.colours
            and all(states[a].open_plays for a in played)
            # Visibility is eventually consistent: wait until it says what the states say.
            and {r.account_id: (r.health, r.open_plays) for r in rows}
            == {a: (s.health_colour, len(s.open_plays)) for a, s in states.items()}
        )

    _, seeded.states = await eventually(
        now, settled, what="journeys and their search attributes to show the seeded colours"
    )
    return seeded
