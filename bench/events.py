"""(2) Event throughput and (3) reaction latency, each beside its floor.

(2) sends the CRM's events as fast as `concurrency` senders can (a closed loop, no probes).
(3) then sends the same mix open-loop at half of what (2) reached, with probes spread through
it: a key contact leaving, timed from the webhook request until the play it starts shows in
the journey's query. The floor gets the same events as bare `handle.signal()` calls into
trivial waiting workflows, at the same rates, its probes timed until the query shows them.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

from temporalio.client import WorkflowHandle

from bench.common import Bench, make_account, percentiles, poll_until, run_pool, settle, sweep
from bench.floor import WAITER, WaiterState
from bench.models import EventResult, Rate, ReactionResult
from bench.procs import api_proc, wait_serving
from bench.scenarios import Send, crm_event, load_plan, paced, ratio, start_journeys
from bench.trace import reaction_path
from starter.api import ApiClient
from starter.devinfra import free_port
from workflows.journey import CustomerJourney, journey_id
from workflows.state import JourneyState

PROBE_PLAY = "new_stakeholder"  # what a key contact leaving starts (policies/default.yaml)
POLL = 0.025  # seconds between queries while a latency probe waits
PACED_SHARE = 0.5  # the latency load: this share of the throughput (2) reached
MIN_RATE = 5.0


@dataclass(frozen=True)
class Load:
    journeys: int
    events: int
    concurrency: int
    probes: int
    latency_seconds: float
    per_request: int = 1


@dataclass
class Side:
    """What one side (Waypost or the floor) measured."""

    rate: Rate
    cpu: dict[str, float]
    latencies: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    behind: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    states: list[JourneyState] = field(default_factory=list)
    accepted: float = 0.0
    breakdown: dict[str, float] = field(default_factory=dict)


async def event_throughput(bench: Bench, load: Load) -> tuple[EventResult, ReactionResult]:
    saturated = load_plan(load.events, load.journeys, 0)
    waypost, offered, steady = await _waypost(bench, load, saturated)
    floor = await _floor(bench, load, saturated, offered, steady)
    ledgers = [s.ledger for s in waypost.states]
    events = EventResult(
        waypost=waypost.rate,
        baseline=floor.rate,
        ratio=ratio(waypost.rate, floor.rate),
        journeys=load.journeys,
        concurrency=load.concurrency,
        events_per_request=load.per_request,
        http_statuses=dict(waypost.statuses),
        applied=sum(x.applied for x in ledgers),
        stale=sum(x.stale for x in ledgers),
        duplicates=sum(x.duplicates for x in ledgers),
        waypost_accepted_seconds=round(waypost.accepted, 3),
        waypost_cpu_ms=waypost.cpu,
        baseline_cpu_ms=floor.cpu,
    )
    reaction = ReactionResult(
        waypost=percentiles(waypost.latencies),
        baseline=percentiles(floor.latencies),
        webhook_answered=percentiles(waypost.answered),
        waypost_breakdown_ms=waypost.breakdown,
        offered_per_second=round(offered, 1),
        events=len(steady),
        waypost_behind_seconds=waypost.behind,
        baseline_behind_seconds=floor.behind,
        poll_interval=POLL,
    )
    return events, reaction


async def _waypost(
    bench: Bench, load: Load, saturated: list[Send]
) -> tuple[Side, float, list[Send]]:
    client = bench.client
    token, secret = secrets.token_hex(16), secrets.token_hex(16)
    async with bench.worker("waypost", "events") as proc:
        queue = proc.env["WAYPOST_TASK_QUEUE"]
        accounts = [make_account(bench.account_id("e", i), i) for i in range(load.journeys)]
        with bench.steps.phase("(2) events: journeys to send to", load.journeys) as bar:
            await start_journeys(bench, accounts, queue, tick=bar.set)
        handles = [
            client.get_workflow_handle_for(CustomerJourney.run, journey_id(a.account_id))
            for a in accounts
        ]
        port = free_port()
        api = api_proc(bench.infra, queue, port, token, secret)
        api.start()
        try:
            url = f"http://127.0.0.1:{port}"
            await wait_serving(url, token, api)
            async with ApiClient(url, token=token, webhook_secret=secret) as http:
                statuses: Counter[str] = Counter()
                answered: list[float] = []
                latencies: list[float] = []
                probed: dict[int, tuple[float, float]] = {}  # target: (posted at, latency)

                def body(s: Send, tag: str) -> dict[str, object]:
                    kind, event = crm_event(tag, s, accounts[s.target])
                    return {
                        "account_id": accounts[s.target].account_id,
                        "kind": kind,
                        "event": event.model_dump(mode="json"),
                    }

                async def send_batch(batch: list[Send], tag: str) -> None:
                    results = await http.send_events([body(s, tag) for s in batch])
                    statuses.update(str(r["status"]) for r in results)

                async def send(s: Send, tag: str) -> None:
                    t0, posted_at = time.monotonic(), time.time()
                    [result] = await http.send_events([body(s, tag)])
                    answered.append(time.monotonic() - t0)
                    statuses[str(result["status"])] += 1
                    if not s.probe:
                        return
                    handle = handles[s.target]

                    async def play_started() -> bool:
                        state = await handle.query(CustomerJourney.state)
                        return any(p.play == PROBE_PLAY for p in state.open_plays.values())

                    await poll_until(play_started, interval=POLL, within=120, what="play")
                    latencies.append(time.monotonic() - t0)
                    probed[s.target] = (posted_at, latencies[-1])

                expected = Counter(s.target for s in saturated)
                states: dict[int, JourneyState] = {}

                async def applied(i: int) -> bool:
                    states[i] = state = await handles[i].query(CustomerJourney.state)
                    ledger = state.ledger
                    return ledger.applied + ledger.stale + ledger.duplicates >= expected[i]

                tag = f"{bench.run_id}-sat"
                k = load.per_request
                batches = [saturated[i : i + k] for i in range(0, len(saturated), k)]
                with bench.steps.phase("(2) events: webhooks into journeys", len(batches)) as bar:
                    bench.profiler.attach(proc, "events")
                    bench.profiler.attach(api, "events")
                    meter = bench.cpu(worker=proc, api=api)
                    t0 = time.monotonic()
                    await run_pool(
                        batches, lambda b: send_batch(b, tag), load.concurrency, tick=bar.advance
                    )
                    accepted = time.monotonic() - t0
                    await sweep(list(range(load.journeys)), applied, within=300, what="applied")
                    rate = Rate.of(len(saturated), time.monotonic() - t0)
                    side = Side(rate, meter.ms_per_item(len(saturated)), accepted=accepted)
                    side.statuses, side.states = Counter(statuses), list(states.values())
                await bench.collect_profiles()

                offered = max(MIN_RATE, PACED_SHARE * rate.per_second)
                steady = load_plan(int(offered * load.latency_seconds), load.journeys, load.probes)
                answered.clear()
                tag = f"{bench.run_id}-steady"
                with bench.steps.phase("(3) latency: webhooks at a steady rate", len(steady)):
                    bench.profiler.attach(proc, "latency")
                    side.behind = await paced(steady, offered, lambda s: send(s, tag))
                side.latencies, side.answered = latencies, answered
                side.breakdown = await _breakdown(handles, probed)
        finally:
            await bench.collect_profiles()
            await api.stop()
    return side, offered, steady


async def _breakdown(
    handles: list[WorkflowHandle[CustomerJourney, JourneyState]],
    probed: dict[int, tuple[float, float]],
) -> dict[str, float]:
    """Mean milliseconds per stage of a probe's reaction, from the probed journeys' histories;
    what is left of the latency is the query seeing the play."""
    paths = []
    for target, (posted_at, latency) in probed.items():
        history = await handles[target].fetch_history()
        path = reaction_path(history.events, "key_contact_changed", posted_at)
        if path is not None:
            path["play visible in the query"] = latency - sum(path.values())
            paths.append(path)
    if not paths:
        return {}
    return {stage: round(1000 * sum(p[stage] for p in paths) / len(paths), 1) for stage in paths[0]}


async def _floor(
    bench: Bench, load: Load, saturated: list[Send], offered: float, steady: list[Send]
) -> Side:
    client = bench.client
    latencies: list[float] = []
    async with bench.worker("baseline", "events") as proc:
        queue = proc.env["WAYPOST_TASK_QUEUE"]
        ids = [f"wait-{bench.run_id}-{i:05d}" for i in range(load.journeys)]
        accounts = [make_account(bench.account_id("f", i), i) for i in range(load.journeys)]
        await run_pool(ids, lambda wid: client.start_workflow(WAITER, id=wid, task_queue=queue), 32)
        await settle(client, ids, completed=False, within=120 + load.journeys)

        async def send(s: Send, tag: str) -> None:
            handle = client.get_workflow_handle(ids[s.target])
            if not s.probe:
                _, event = crm_event(tag, s, accounts[s.target])
                await handle.signal("ping", event.model_dump(mode="json"))
                return
            t0, probe_id = time.monotonic(), f"probe-{tag}-{s.seq}"
            await handle.signal("probe", probe_id)

            async def seen() -> bool:
                state = await handle.query("state", result_type=WaiterState)
                return probe_id in state.probes

            await poll_until(seen, interval=POLL, within=120, what=probe_id)
            latencies.append(time.monotonic() - t0)

        expected = Counter(ids[s.target] for s in saturated)

        async def applied(wid: str) -> bool:
            state = await client.get_workflow_handle(wid).query("state", result_type=WaiterState)
            return bool(state.signals >= expected[wid])

        with bench.steps.phase("(2) events: bare signals (floor)", len(saturated)) as bar:
            bench.profiler.attach(proc, "events-floor")
            meter = bench.cpu(worker=proc)
            t0 = time.monotonic()
            tag = f"{bench.run_id}-floor"
            await run_pool(saturated, lambda s: send(s, tag), load.concurrency, tick=bar.advance)
            await sweep(ids, applied, within=300, what="signals applied")
            side = Side(
                Rate.of(len(saturated), time.monotonic() - t0), meter.ms_per_item(len(saturated))
            )
        await bench.collect_profiles()
        with bench.steps.phase("(3) latency: bare signals at the same rate", len(steady)):
            tag = f"{bench.run_id}-floor-steady"
            side.behind = await paced(steady, offered, lambda s: send(s, tag))
        side.latencies = latencies
        await run_pool(ids, lambda w: client.get_workflow_handle(w).signal("finish"), 32)
    return side
