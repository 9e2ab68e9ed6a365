"""A journey's plays: triggers it raises, the Playbook children they start, the facts it tells
them, and their end. One class owns the accounting of plays under way.

Runs in the workflow (it calls `workflow.*`); which plays a trigger starts is decided by the
pure rules (`plays_to_start`), and what a play is told by its watched facts.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from workflows.journey import patches, prose
    from workflows.journey.context import JourneyContext
    from workflows.journey.effects import Effects
    from workflows.journey.state import JourneyState, OpenPlay, TriggerRecord
    from workflows.models import Account
    from workflows.playbook import names as play_names
    from workflows.playbook.messages import FactsChanged, PlaybookInput, PlayEnded
    from workflows.playbook.plan import play_workflow_id
    from workflows.playbook.workflow import Playbook
    from workflows.rules import (
        HealthChangedEvent,
        JourneyFacts,
        KeyContactChangedEvent,
        PlayDecision,
        PlayEvent,
        PlayRun,
        plays_to_start,
        watched_by,
    )
    from workflows.rules.why import Why

MAX_TRIGGERS_KEPT = 50
MAX_PLAY_RUNS_KEPT = 200


def facts_of(s: JourneyState) -> JourneyFacts:
    """What a play's conditions may read of its journey."""
    return JourneyFacts(
        health=s.health.colour if s.health else None,
        completed_milestones=[m.key for m in s.milestones if m.status == "done"]
        + [r.key for r in s.recurring if r.occurrence and r.occurrence in r.done_occurrences],
        adoption_at_risk=list(s.adoption.at_risk) if s.adoption else [],
    )


def play_cause(d: PlayDecision, event: PlayEvent, day: float) -> str:
    """The cause a play's workflow id names. Health plays also name the transition and its
    day, so each distinct change is its own cause while retries of one change are not."""
    if isinstance(event, HealthChangedEvent):
        return f"{event.from_colour}-{event.to_colour}-day{int(day)}"
    return d.cause


def play_values(
    state: JourneyState, account: Account, d: PlayDecision, event: PlayEvent
) -> dict[str, str]:
    """The placeholders a play's message templates may use."""
    values = {
        "account_id": account.account_id,
        "account_name": account.name,
        "segment": account.segment,
        "tier": account.tier,
        "csm": account.csm,
        "renewal_date": str(state.contract_end),
        "cause": d.cause,
        "health": state.health_colour,
        "score": f"{state.health.score:g}" if state.health else "",
        "stage": state.stage,
    }
    if isinstance(event, KeyContactChangedEvent):
        contact = next((c for c in account.contacts if c.contact_id == event.contact_id), None)
        values["contact_name"] = contact.name if contact else event.contact_id
        values["persona"] = event.persona or ""
    return values


class Plays:
    def __init__(self, ctx: JourneyContext, fx: Effects) -> None:
        self._ctx = ctx
        self._fx = fx
        # What each open play was last told, so a fact change it does not watch costs nothing.
        self._facts_sent: dict[str, JourneyFacts] = {}
        # Play ids whose start is awaited, and those of them that ended before it returned.
        self._starting: set[str] = set()
        self._ended_early: set[str] = set()

    async def trigger(
        self, event: PlayEvent, why: Why | None = None, summary: str | None = None
    ) -> None:
        """Record a trigger, decide which plays it starts, and start them."""
        ctx, state = self._ctx, self._ctx.state
        now = workflow.now()
        plays_on = workflow.patched(patches.PLAYS)
        runs = state.play_runs if plays_on else []
        decisions = plays_to_start(event, runs, ctx.policy, ctx.clock.at(now))
        record = TriggerRecord(
            kind=event.kind,
            cause=event.cause,
            day=round(ctx.clock.day(now), 2),
            at=ctx.clock.at(now),
            summary=summary or event.describe(),
            why=why,
            decisions=decisions,
        )
        state.triggers = [*state.triggers, record][-MAX_TRIGGERS_KEPT:]
        starting = [d for d in decisions if d.start] if plays_on else []
        for d in starting:
            # Claimed before any await: a second trigger for the same cause, handled while
            # this one waits on Temporal, sees the run and is refused by the rules.
            state.play_runs = [
                *state.play_runs,
                PlayRun(play=d.play, cause=d.cause, started_at=record.at),
            ][-MAX_PLAY_RUNS_KEPT:]
        chosen = [d.play for d in decisions if d.start]
        await self._fx.record(
            "trigger",
            f"{event.kind}:{event.cause}:{event.event_id or record.day}",
            prose.trigger(record.summary, chosen),
            {"why": why.model_dump(mode="json") if why else None, "plays": chosen},
        )
        for d in starting:
            with self._fx.under_way():
                await self._start(d, record, event)

    async def _start(self, d: PlayDecision, trigger: TriggerRecord, event: PlayEvent) -> None:
        ctx, state = self._ctx, self._ctx.state
        play_id = play_workflow_id(state.account_id, d.play, play_cause(d, event, trigger.day))
        play = ctx.policy.play(d.play)
        self._starting.add(play_id)
        try:
            handle = await workflow.start_child_workflow(
                Playbook.run,
                PlaybookInput(
                    play_id=play_id,
                    account_id=state.account_id,
                    csm=state.csm,
                    journey_workflow_id=workflow.info().workflow_id,
                    journey_run=ctx.chain,
                    play=play,
                    templates=ctx.policy.templates,
                    policy_name=ctx.policy.name,
                    policy_version=ctx.policy.version,
                    cause=d.cause,
                    trigger_summary=trigger.summary,
                    why=trigger.why or d.why,
                    day_seconds=state.day_seconds,
                    journey_time=ctx.clock.at(workflow.now()),
                    facts=facts_of(state),
                    values=play_values(state, ctx.account, d, event),
                ),
                id=play_id,
                # Plays outlive the journey's continue-as-new and report back by signal.
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                static_summary=prose.play_started(play.title),
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("play already running", extra={"play_id": play_id})
            return
        finally:
            self._starting.discard(play_id)
        handle.add_done_callback(functools.partial(self._failed, play_id))
        workflow.metric_meter().create_counter(
            "waypost_plays_started", "Playbook runs started, by play."
        ).add(1, {"play": d.play})
        state.open_plays[play_id] = OpenPlay(
            play_id=play_id,
            play=d.play,
            title=play.title,
            cause=d.cause,
            why=trigger.summary,
            started_day=trigger.day,
            watches=watched_by(play),
        )
        self._facts_sent[play_id] = self._seen_by(state.open_plays[play_id], facts_of(state))
        self._fx.open_plays_changed()
        self._fx.describe_wait()
        if play_id in self._ended_early:
            self._ended_early.discard(play_id)
            self.close(play_id)

    async def tell(self) -> None:
        """Send changed facts to open plays, so they can exit (e.g. health back to green)."""
        facts = facts_of(self._ctx.state)
        for play_id, opened in list(self._ctx.state.open_plays.items()):
            seen = self._seen_by(opened, facts)
            if self._facts_sent.get(play_id) == seen:
                continue
            self._facts_sent[play_id] = seen
            await self._fx.signal_play(play_id, play_names.JOURNEY_FACTS, FactsChanged(facts=seen))

    def _seen_by(self, opened: OpenPlay, facts: JourneyFacts) -> JourneyFacts:
        if opened.watches is None or not workflow.patched(patches.FACTS_WATCHED):
            return facts
        return opened.watches.project(facts)

    async def stop_all(self, reason: str) -> None:
        """The journey ended: tell each open play there is nothing left to play for."""
        for play_id in list(self._ctx.state.open_plays):
            await self._fx.signal_play(play_id, play_names.STOP, reason)

    def ended(self, ended: PlayEnded) -> None:
        if ended.journey_run not in (None, self._ctx.chain):
            return  # a play of an earlier journey for this account
        self.close(ended.play_id)

    def close(self, play_id: str) -> None:
        state = self._ctx.state
        opened = state.open_plays.pop(play_id, None)
        if opened is None:
            # A short play can end before this journey sees it start (signal handlers run
            # first in an activation): close it once it is open. Otherwise: told twice.
            if play_id in self._starting and workflow.patched(patches.EARLY_PLAY_END):
                self._ended_early.add(play_id)
            return
        self._facts_sent.pop(play_id, None)
        ended_at = self._ctx.clock.at(workflow.now())
        state.play_runs = [
            r.model_copy(update={"ended_at": ended_at})
            if r.play == opened.play and r.cause == opened.cause and r.ended_at is None
            else r
            for r in state.play_runs
        ]
        self._fx.open_plays_changed()
        self._fx.describe_wait()

    def _failed(self, play_id: str, run: asyncio.Task[Any]) -> None:
        """A play that failed cannot say it ended: close it here, so its cause is free again.
        (A play that ends normally signals `play_ended`, which also reaches a later run.)"""
        if run.cancelled() or run.exception() is None:
            return
        workflow.logger.warning(
            "play failed", extra={"play_id": play_id, "error": str(run.exception())}
        )
        self.close(play_id)
