"""(2) Event throughput and (3) reaction latency, each beside its floor.

(2) sends the CRM's events as fast as `concurrency` senders can (a closed loop), with latency
probes in it: the reaction under that saturating load. (3) then sends the same mix open-loop
at half of what (2) reached, with probes spread through it. A probe is a key contact leaving,
timed from the webhook request until the play it starts shows in the journey's query. The
floor gets the same events as bare `handle.signal()` calls into trivial waiting workflows, at
the same rates, its probes timed until the query shows them.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from bench.common import Bench, make_account, percentiles, poll_until, run_pool, settle, sweep
from bench.floor import WAITER, WaiterState
from bench.models import EventResult, Rate, ReactionResult
from bench.procs import Proc, api_proc, wait_serving
from bench.scenarios import (
    Send,
    crm_event,
    load_plan,
    paced,
    ratio,
    start_journeys,
    work_items,
)
from bench.trace import reaction_path
from devtools.infra import free_port
from starter.api.client import ApiClient
from workflows.journey.state import JourneyState
from workflows.journey.workflow import CustomerJourney, journey_id
from workflows.models import Account
from workflows.playbook.plan import play_workflow_id

PROBE_PLAY = "new_stakeholder"  # what a key contact leaving starts (policies/default.yaml)
POLL = 0.025  # seconds between queries while a latency probe waits
PACED_SHARE = 0.5  # the steady load: this share of the throughput (2) reached
MIN_RATE = 5.0


def probe_play_id(account: Account) -> str:
    """The play a probe starts: its champion leaving (bench.scenarios.crm_event)."""
    return play_workflow_id(account.account_id, PROBE_PLAY, f"{account.account_id}-champ")


@dataclass(frozen=True)
class Load:
    journeys: int
    events: int
    concurrency: int
    probes: int
    latency_seconds: float
    per_request: int = 1

    def saturated(self) -> list[Send]:
        """(2)'s plan; its probes go to the journeys after the steady phase's."""
        steady = min(self.probes, self.journeys)
        extra = min(self.probes, self.journeys - steady)
        return load_plan(self.events, self.journeys, extra, first_probe=steady)

    def steady(self, rate: float) -> list[Send]:
        return load_plan(int(rate * self.latency_seconds), self.journeys, self.probes)


@dataclass
class Side:
    """What one side (Waypost or the floor) measured."""

    rate: Rate
    cpu: dict[str, float]
    saturated_latencies: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    behind: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    states: list[JourneyState] = field(default_factory=list)
    accepted: float = 0.0
    breakdown: dict[str, float] = field(default_factory=dict)


# send(item, tag, latencies): one request (a probe is alone in its item)
Sender = Callable[[list[Send], str, list[float]], Awaitable[None]]


async def _measure(
    bench: Bench,
    load: Load,
    send: Sender,
    applied: Callable[[int], Awaitable[bool]],
    meter_procs: dict[str, Proc],
    label: str,
) -> Side:
    """(2) on one side: the saturating closed loop, until every journey applied its events."""
    plan = load.saturated()
    items = work_items(plan, load.per_request)
    latencies: list[float] = []
    tag = f"{bench.run_id}-{label}-sat"
    with bench.steps.phase(f"(2) events: {label}", len(items)) as bar:
        meter = bench.cpu(**meter_procs)
        t0 = time.monotonic()
        await run_pool(items, lambda i: send(i, tag, latencies), load.concurrency, bar.advance)
        accepted = time.monotonic() - t0
        await sweep(list(range(load.journeys)), applied, within=300, what="applied")
        side = Side(Rate.of(len(plan), time.monotonic() - t0), meter.ms_per_item(len(plan)))
    side.accepted, side.saturated_latencies = accepted, latencies
    return side


async def event_throughput(bench: Bench, load: Load) -> tuple[EventResult, ReactionResult]:
    waypost, offered = await _waypost(bench, load)
    floor = await _floor(bench, load, offered)
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
        saturated_waypost=percentiles(waypost.saturated_latencies),
        saturated_baseline=percentiles(floor.saturated_latencies),
        offered_per_second=round(offered, 1),
        events=len(load.steady(offered)),
        waypost_behind_seconds=waypost.behind,
        baseline_behind_seconds=floor.behind,
        poll_interval=POLL,
    )
    return events, reaction


async def _waypost(bench: Bench, load: Load) -> tuple[Side, float]:
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
                hooks = _Webhooks(bench, http, accounts, handles)
                expected = Counter(s.target for s in load.saturated())
                states: dict[int, JourneyState] = {}

                async def applied(i: int) -> bool:
                    states[i] = state = await handles[i].query(CustomerJourney.state)
                    ledger = state.ledger
                    return ledger.applied + ledger.stale + ledger.duplicates >= expected[i]

                bench.profiler.attach(proc, "events")
                bench.profiler.attach(api, "events")
                procs = {"worker": proc, "api": api}
                side = await _measure(
                    bench, load, hooks.send, applied, procs, "webhooks into journeys"
                )
                side.statuses, side.states = Counter(hooks.statuses), list(states.values())
                await bench.collect_profiles()

                offered = max(MIN_RATE, PACED_SHARE * side.rate.per_second)
                steady = load.steady(offered)
                hooks.answered.clear()
                hooks.probed.clear()
                tag = f"{bench.run_id}-steady"
                with bench.steps.phase("(3) latency: webhooks at a steady rate", len(steady)):
                    bench.profiler.attach(proc, "latency")
                    side.behind = await paced(
                        steady, offered, lambda s: hooks.send([s], tag, side.latencies)
                    )
                side.answered = hooks.answered
                side.breakdown = await _breakdown(handles, hooks.probed)
        finally:
            await bench.collect_profiles()
            await api.stop()
    return side, offered


@dataclass
class _Webhooks:
    """Sends the CRM's events to the API as webhooks; a probe's send also waits for the play
    it starts to show in its journey's query."""

    bench: Bench
    http: ApiClient
    accounts: list[Account]
    handles: list[WorkflowHandle[CustomerJourney, JourneyState]]
    statuses: Counter[str] = field(default_factory=Counter)
    answered: list[float] = field(default_factory=list)
    probed: dict[int, tuple[float, float]] = field(default_factory=dict)  # (posted at, latency)

    def _body(self, s: Send, tag: str) -> dict[str, object]:
        kind, event = crm_event(tag, s, self.accounts[s.target])
        return {
            "account_id": self.accounts[s.target].account_id,
            "kind": kind,
            "event": event.model_dump(mode="json"),
        }

    async def send(self, item: list[Send], tag: str, latencies: list[float]) -> None:
        t0, posted_at = time.monotonic(), time.time()
        results = await self.http.send_events([self._body(s, tag) for s in item])
        self.answered.append(time.monotonic() - t0)
        self.statuses.update(str(r["status"]) for r in results)
        if not item[0].probe:
            return
        await self._play_shown(item[0].target)
        latencies.append(time.monotonic() - t0)
        self.probed[item[0].target] = (posted_at, latencies[-1])

    async def _play_shown(self, target: int) -> None:
        handle = self.handles[target]
        play = self.bench.client.get_workflow_handle(probe_play_id(self.accounts[target]))

        async def play_exists() -> bool:
            try:
                await play.describe()
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise
            return True

        async def play_started() -> bool:
            state = await handle.query(CustomerJourney.state)
            return any(p.play == PROBE_PLAY for p in state.open_plays.values())

        # Waiting for the play in the server first keeps the probes' own queries
        # (each one a workflow task on the worker being measured) from loading it:
        # polled every 25 ms, a dozen probes in flight were 500 queries a second.
        await poll_until(play_exists, interval=POLL, within=120, what="play")
        await poll_until(play_started, interval=POLL, within=120, what="play")


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


async def _floor(bench: Bench, load: Load, offered: float) -> Side:
    client = bench.client
    async with bench.worker("baseline", "events") as proc:
        queue = proc.env["WAYPOST_TASK_QUEUE"]
        ids = [f"wait-{bench.run_id}-{i:05d}" for i in range(load.journeys)]
        accounts = [make_account(bench.account_id("f", i), i) for i in range(load.journeys)]
        await run_pool(ids, lambda wid: client.start_workflow(WAITER, id=wid, task_queue=queue), 32)
        await settle(client, ids, completed=False, within=120 + load.journeys)

        async def send_one(s: Send, tag: str, latencies: list[float]) -> None:
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

        async def send(item: list[Send], tag: str, latencies: list[float]) -> None:
            for s in item:  # a signal carries one event: a batch is that many signals
                await send_one(s, tag, latencies)

        expected = Counter(s.target for s in load.saturated())

        async def applied(i: int) -> bool:
            handle = client.get_workflow_handle(ids[i])
            state = await handle.query("state", result_type=WaiterState)
            return bool(state.signals >= expected[i])

        bench.profiler.attach(proc, "events-floor")
        side = await _measure(bench, load, send, applied, {"worker": proc}, "bare signals (floor)")
        await bench.collect_profiles()
        steady = load.steady(offered)
        with bench.steps.phase("(3) latency: bare signals at the same rate", len(steady)):
            tag = f"{bench.run_id}-floor-steady"
            side.behind = await paced(steady, offered, lambda s: send_one(s, tag, side.latencies))
        await run_pool(ids, lambda w: client.get_workflow_handle(w).signal("finish"), 32)
    return side
