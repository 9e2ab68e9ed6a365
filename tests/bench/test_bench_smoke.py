"""`make bench` end to end at tiny sizes: every scenario runs and the JSON says so.

Timings are not asserted: at these sizes they mean nothing. Uses the session's servers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.models import BenchResult
from bench.run import main

pytestmark = pytest.mark.integration


async def test_a_quick_run_writes_every_measurement(
    tmp_path: Path, temporal_address: str, database_url: str
) -> None:
    argv = ["--quick", "--no-profile", "--results-dir", str(tmp_path)]
    argv += ["--temporal-address", temporal_address, "--database-url", database_url]

    code = await asyncio.to_thread(main, argv)

    assert code == 0
    result = BenchResult.model_validate_json((tmp_path / "latest.json").read_text())
    assert result.quick and result.machine.cores >= 1
    assert result.start and result.start.waypost.count == result.sizes.start_journeys
    assert result.events and result.events.applied == result.events.waypost.count
    assert result.reaction and result.reaction.waypost.samples == result.sizes.latency_samples
    assert result.history and result.history.journey_runs >= 1
    assert result.history.actions_by_kind_per_customer_year["timer"] > 0
    assert result.memory and result.memory.points[-1].open_journeys == 24
    assert result.memory.resume.journeys == 24
    assert {t.measure for t in result.targets} >= {"start throughput", "events per run"}
