"""Fixtures more than one integration file uses."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.browser.seed import Seeded, seed_portfolio
from tests.helpers import Journeys
from workflows.models import Account


@pytest.fixture
async def seeded(
    journeys: Journeys, worker: object, make_account: Callable[..., Account]
) -> Seeded:
    """The five-journey portfolio of tests/browser/seed.py, on the test's task queue."""
    return await seed_portfolio(journeys, make_account)
