"""CustomerJourney: one long-running workflow per customer account.

It forks instead of walking a line: onboarding milestones, adoption checks, tenure stages with
recurring milestones, renewal checkpoints and health run as concurrent branches of one
workflow. It orchestrates; the policy's pure rules (workflows/rules.py) decide. Every duration
is policy days × the journey's `day_seconds`, so the same code runs years in production and
seconds in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, FailureError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.models import TimelineEntry
    from activities.store import StoreActivities
    from workflows import attributes
    from workflows.clock import JourneyClock, midnight
    from workflows.journey.messages import (
        AddRolloutStage,
        ChangePolicy,
        EndJourney,
        HealthMeasured,
        IncidentReported,
        JourneyInput,
        KeyContactChanged,
        MilestoneDone,
        RenewContract,
        SupportEscalated,
        UsageReported,
    )
    from workflows.journey.onboarding import (
        blocked_by,
        next_timers,
        onboarding_end_day,
        plan_milestones,
        stage_of,
    )
    from workflows.journey.state import (
        Completed,
        ContactState,
        Incident,
        JourneyEnded,
        JourneyState,
        MeasureValue,
        MilestoneState,
        OpenPlay,
        RecurringState,
        TriggerRecord,
    )
    from workflows.playbook.messages import FactsChanged, PlaybookInput, PlayEnded
    from workflows.playbook.plan import play_workflow_id
    from workflows.playbook.workflow import Playbook
    from workflows.policy import check_policy
    from workflows.rules import (
        AdoptionRiskEvent,
        HealthChangedEvent,
        JourneyFacts,
        KeyContactChangedEvent,
        MilestoneOverdueEvent,
        PlayDecision,
        PlayEvent,
        PlayRun,
        RenewalDueEvent,
        SupportEscalatedEvent,
        evaluate_adoption,
        next_recurring,
        plays_to_start,
        renewal_checkpoints,
        score_health,
        select_track,
        tenure_stage,
        watched_by,
    )
    from workflows.rules.why import Why

WORKFLOW_NAME = "CustomerJourney"

# Journeys started before the forking branches existed replay without them.
FORKING_PATCH = "forking-journey"
# Journeys started before plays ran as child workflows record triggers only.
PLAYS_PATCH = "start-plays"
MAX_PLAY_RUNS_KEPT = 200
# Journeys before this told every open play of every fact change; now a play hears only of
# the facts its conditions read, and each signal saved is a billed action saved.
FACTS_WATCHED_PATCH = "facts-watched"
# Journeys before this dropped a play_ended that came before the play's start was seen, and
# kept that play open forever.
EARLY_PLAY_END_PATCH = "play-ended-before-started"

# Postgres hiccups are worth retrying for a while; a journey must not fail because of one.
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["InvalidTimelineEntry"],
)
MAX_TRIGGERS_KEPT = 50
# Usage and incidents older than this cannot matter to any adoption window we judge.
KEEP_ACTIVITY_DAYS = 120


def journey_id(account_id: str) -> str:
    return f"journey-{account_id}"


def _completed(m: MilestoneState) -> Completed:
    return Completed(
        key=m.key, title=m.title, kind=m.kind, status=m.status, done_day=m.done_day, late=m.late
    )


@workflow.defn(name=WORKFLOW_NAME)
class CustomerJourney:
    @workflow.init
    def __init__(self, start: JourneyInput) -> None:
        self._account = start.account
        self._policy = start.policy
        self._chain = workflow.info().first_execution_run_id
        # Effects under way (timeline writes, play starts, signals to plays): continue-as-new
        # waits for them, since the new run only knows what the carried state says.
        self._in_flight = 0
        self._renewal_changed = 0
        self._forking = False
        self._spawned: set[asyncio.Task[None]] = set()
        self._facts_sent: dict[str, JourneyFacts] = {}
        self._starting: set[str] = set()
        self._ended_early: set[str] = set()
        if start.carried is not None:
            self._state = start.carried.model_copy(update={"runs": start.carried.runs + 1})
        else:
            self._state = self._new_state(start)
        s = self._state
        self._clock = JourneyClock(s.started_at, s.epoch or s.started_at, s.day_seconds)

    def _new_state(self, start: JourneyInput) -> JourneyState:
        account, now = start.account, workflow.now()
        choice = select_track(account, start.policy)
        epoch = start.epoch or now
        clock = JourneyClock(now, epoch, start.day_seconds)
        return JourneyState(
            account_id=account.account_id,
            segment=account.segment,
            tier=account.tier,
            csm=account.csm,
            contract_start=account.contract_start,
            contract_end=account.contract_end,
            policy_name=start.policy.name,
            policy_version=start.policy.version,
            track=choice.track.key,
            track_reason=choice.reason,
            touch=choice.track.touch,
            day_seconds=start.day_seconds,
            started_at=now,
            epoch=epoch,
            milestones=plan_milestones(choice.track, clock),
            recurring=[
                RecurringState(key=r.key, title=r.title, owner=r.owner, every_days=r.every_days)
                for r in start.policy.maturity.recurring
            ],
            contacts=[
                ContactState(contact_id=c.contact_id, persona=c.persona, key=c.key)
                for c in account.contacts
            ],
        )

    @workflow.run
    async def run(self, start: JourneyInput) -> JourneyState:
        state = self._state
        fresh = start.carried is None
        if fresh:
            self._upsert_attributes()
        self._forking = workflow.patched(FORKING_PATCH)
        if fresh:
            await self._record(
                "journey_started",
                None,
                f"Journey started on track '{state.track}' ({state.track_reason})",
                {
                    "track": state.track,
                    "policy": state.policy_name,
                    "version": state.policy_version,
                },
            )
        tasks = [
            asyncio.create_task(self._watch_milestone(m))
            for m in state.milestones
            if m.status == "pending" and (m.kind == "milestone" or self._forking)
        ]
        if self._forking:
            tasks += [
                asyncio.create_task(self._adoption_branch()),
                asyncio.create_task(self._maturity_branch()),
                asyncio.create_task(self._renewal_branch()),
            ]
        self._describe_wait()
        await workflow.wait_condition(
            lambda: (
                state.ended is not None
                or (self._forking and workflow.info().is_continue_as_new_suggested())
            )
        )
        if state.ended is None:
            await self._continue_as_new()
        await asyncio.gather(*tasks)
        # Let an in-flight update (end_journey itself, a late complete_milestone) finish.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._snapshot()

    async def _continue_as_new(self) -> None:
        # Never from inside a handler, and never while an effect is half-recorded: the new
        # run starts from the carried state, so every change must be in it.
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and self._in_flight == 0
        )
        workflow.continue_as_new(
            JourneyInput(
                account=self._account,
                policy=self._policy,
                day_seconds=self._state.day_seconds,
                epoch=self._clock.epoch,
                carried=self._state,
            )
        )

    # ---- onboarding ----------------------------------------------------------------------

    async def _watch_milestone(self, m: MilestoneState) -> None:
        try:
            await workflow.wait_condition(
                lambda: m.status != "pending" or self._state.ended is not None,
                timeout=timedelta(seconds=self._clock.seconds_until(m.due_day, workflow.now())),
                timeout_summary=f"{m.title} due (day {m.due_day:g})",
            )
        except TimeoutError:
            m.status = "overdue"
            waiting_on = blocked_by(self._state, m)
            self._stage_changed()
            self._describe_wait()
            blocked = f", waiting on {', '.join(waiting_on)}" if waiting_on else ""
            await self._record(
                "milestone_overdue",
                m.key,
                f"{m.title} overdue (due day {m.due_day:g}, owner {m.owner}{blocked})",
                {"due_day": m.due_day, "owner": m.owner, "blocked_by": waiting_on},
            )
            if self._forking:
                await self._raise(MilestoneOverdueEvent(milestone=m.key))

    @workflow.update(name="complete_milestone")
    async def complete_milestone(self, done: MilestoneDone) -> Completed:
        recurring = self._state.recurring_item(done.key)
        if recurring is not None:
            return await self._complete_recurring(recurring, done)
        m = self._state.milestone(done.key)
        assert m is not None  # the validator refused unknown keys
        if m.status == "done":
            return _completed(m)  # the same completion reported twice changes nothing
        now = workflow.now()
        m.late = m.status == "overdue"
        m.status = "done"
        m.done_at = self._clock.at(now) if self._forking else now
        m.done_day = round(self._clock.day(now), 2)
        self._stage_changed()
        self._describe_wait()
        late = f", {m.done_day - m.due_day:g} days late" if m.late else ""
        await self._record(
            "milestone_done",
            m.key,
            f"{m.title} done on day {m.done_day:g}{late}" + (f" by {done.by}" if done.by else ""),
            {"done_day": m.done_day, "due_day": m.due_day, "late": m.late, "by": done.by},
        )
        await self._tell_plays()
        return _completed(m)

    async def _complete_recurring(self, r: RecurringState, done: MilestoneDone) -> Completed:
        day = round(self._clock.day(workflow.now()), 2)
        result = Completed(
            key=r.key,
            title=r.title,
            kind="recurring",
            status="done",
            done_day=day,
            occurrence=r.occurrence,
        )
        if r.occurrence in r.done_occurrences:
            return result
        r.done_occurrences.append(r.occurrence)
        await self._record(
            "recurring_done",
            f"{r.key}#{r.occurrence}",
            f"{r.title} #{r.occurrence} done on day {day:g}"
            + (f" by {done.by}" if done.by else ""),
            {"occurrence": r.occurrence, "day": day, "by": done.by},
        )
        await self._tell_plays()
        return result

    @complete_milestone.validator
    def _validate_complete_milestone(self, done: MilestoneDone) -> None:
        self._refuse_if_ended()
        r = self._state.recurring_item(done.key)
        if r is not None:
            if r.occurrence == 0:
                raise ApplicationError(
                    f"'{done.key}' is not due yet (first due on day {r.next_due_day or '?'})",
                    type="NotDueYet",
                )
            return
        m = self._state.milestone(done.key)
        if m is None:
            known = ", ".join(
                [x.key for x in self._state.milestones] + [x.key for x in self._state.recurring]
            )
            raise ApplicationError(
                f"unknown milestone '{done.key}' on track '{self._state.track}' (known: {known})",
                type="UnknownMilestone",
            )
        if m.status != "done" and (waiting := blocked_by(self._state, m)):
            raise ApplicationError(
                f"'{m.key}' comes after {', '.join(waiting)}, not done yet: complete "
                f"{'that' if len(waiting) == 1 else 'those'} first",
                type="MilestoneBlocked",
            )

    @workflow.update(name="add_rollout_stage")
    async def add_rollout_stage(self, stage: AddRolloutStage) -> JourneyState:
        before = onboarding_end_day(self._state)
        m = MilestoneState(
            key=stage.key,
            title=stage.title,
            owner="customer",
            kind="rollout_stage",
            due_day=stage.due_days,
            due_at=self._clock.time_of(stage.due_days),
        )
        self._state.milestones.append(m)
        self._spawn(self._watch_milestone(m))
        self._stage_changed()
        self._describe_wait()
        after = onboarding_end_day(self._state)
        await self._record(
            "rollout_stage_added",
            stage.key,
            f"Rollout stage '{stage.title}' added, due day {stage.due_days:g}; "
            f"onboarding now ends day {after:g} (was {before:g})",
            {"due_day": stage.due_days, "seats": stage.seats, "end_was": before, "end_now": after},
        )
        return self._snapshot()

    @add_rollout_stage.validator
    def _validate_add_rollout_stage(self, stage: AddRolloutStage) -> None:
        self._refuse_if_ended()
        if not self._forking:
            raise ApplicationError("this journey predates rollout stages", type="NotSupported")
        if self._state.milestone(stage.key) or self._state.recurring_item(stage.key):
            raise ApplicationError(
                f"'{stage.key}' already exists on this journey", type="Duplicate"
            )
        if stage_of(self._state) != "onboarding":
            raise ApplicationError(
                "onboarding has finished; a rollout stage can only be added while it runs",
                type="OnboardingFinished",
            )
        if stage.due_days < self._clock.day(workflow.now()):
            raise ApplicationError(
                f"due_days {stage.due_days:g} is already past (today is day "
                f"{self._clock.day(workflow.now()):.1f})",
                type="InPast",
            )

    # ---- adoption ------------------------------------------------------------------------

    async def _adoption_branch(self) -> None:
        state = self._state
        every = self._policy.adoption.check_every_days
        while state.ended is None:
            day = state.next_adoption_check_day or every
            state.next_adoption_check_day = day
            if not await self._sleep_until(day, "Adoption check"):
                return
            await self._check_adoption(self._clock.time_of(day))
            state.next_adoption_check_day = day + every

    async def _check_adoption(self, today: datetime) -> None:
        """Judge adoption as of the check's scheduled journey time, not when its timer fired:
        timer latency is nothing in real days but can be days when days are compressed."""
        state = self._state
        horizon = (today - timedelta(days=KEEP_ACTIVITY_DAYS)).date()
        state.active_days = {
            p: [d for d in ds if d >= horizon] for p, ds in state.active_days.items()
        }
        state.incidents = [i for i in state.incidents if i.at.date() >= horizon]
        before = set(state.adoption.at_risk) if state.adoption else set()
        report = evaluate_adoption(
            state.active_days,
            [i.at for i in state.incidents],
            self._policy,
            today,
            personas_present={c.persona for c in state.contacts if c.present},
            observed_since=(state.epoch or state.started_at).date(),
        )
        state.adoption = report
        if report.score is not None:
            state.measures["adoption"] = MeasureValue(
                value=report.score, at=today, note=report.reason, source="adoption check"
            )
            await self._rescore("adoption check")
        if set(report.at_risk) != before:
            await self._tell_plays()
        for persona in report.at_risk:
            if persona not in before:
                await self._raise(AdoptionRiskEvent(persona=persona), report.why)

    @workflow.signal(name="usage_reported")
    async def usage_reported(self, e: UsageReported) -> None:
        if await self._admit("usage_reported", e.event_id, None, e.occurred_at):
            now = workflow.now()
            today = self._clock.today(now)
            reported = e.days_by_persona(self._clock.event_time(e.occurred_at, now).date())
            for persona, dates in reported.items():
                days = self._state.active_days.setdefault(persona, [])
                days += [d for d in dates if d <= today and d not in days]

    @workflow.signal(name="incident_reported")
    async def incident_reported(self, e: IncidentReported) -> None:
        if await self._admit("incident_reported", e.event_id, None, e.occurred_at):
            at = self._clock.event_time(e.occurred_at, workflow.now())
            self._state.incidents.append(
                Incident(incident_id=e.incident_id, at=at, severity=e.severity)
            )

    # ---- maturity ------------------------------------------------------------------------

    async def _maturity_branch(self) -> None:
        """Tenure stages and recurring milestones, walked in journey time from a cursor.

        Each item is handled as of its own due time, in order, so a timer that fires late
        (a blink in real days, many days when they are compressed) skips nothing.
        """
        state = self._state
        start = state.contract_start or (state.epoch or state.started_at).date()
        if state.maturity_cursor is None:
            state.maturity_cursor = self._clock.at(workflow.now())
        while state.ended is None:
            cursor = state.maturity_cursor
            state.tenure = tenure_stage(start, cursor, self._policy)
            self._stage_changed()
            upcoming = next_recurring(start, cursor, self._policy)
            for due in upcoming:
                r = state.recurring_item(due.key)
                if r is not None:
                    r.next_due_at = due.due_at
                    r.next_due_day = round(self._clock.day_of(due.due_at), 2)
            times = [d.due_at for d in upcoming]
            if state.tenure.next_stage_at is not None:
                times.append(state.tenure.next_stage_at)
            if not times:
                return
            at = min(times)
            falling = [d for d in upcoming if d.due_at == at]
            summary = (
                ", ".join(f"{d.title} due" for d in falling)
                if falling
                else f"Becomes {state.tenure.next_stage}"
            )
            if not await self._sleep_until(self._clock.day_of(at), summary):
                return
            for d in falling:
                await self._recurring_due(d.key, d.occurrence, at)
            if at == state.tenure.next_stage_at:
                reached = tenure_stage(start, at, self._policy)
                await self._record(
                    "tenure_stage",
                    reached.stage,
                    f"Tenure stage: {reached.title} ({reached.reason})",
                )
            state.maturity_cursor = at

    async def _recurring_due(self, key: str, occurrence: int, at: datetime) -> None:
        r = self._state.recurring_item(key)
        assert r is not None
        missed = r.occurrence if r.occurrence and r.occurrence not in r.done_occurrences else None
        r.occurrence = occurrence
        r.due_day = round(self._clock.day_of(at), 2)
        await self._record(
            "recurring_due",
            f"{key}#{occurrence}",
            f"{r.title} #{occurrence} due (every {r.every_days:g} days, owner {r.owner})",
            {"occurrence": occurrence, "every_days": r.every_days},
        )
        if missed is not None:
            await self._raise(MilestoneOverdueEvent(milestone=key, occurrence=missed))

    # ---- renewal -------------------------------------------------------------------------

    async def _renewal_branch(self) -> None:
        state = self._state
        while state.ended is None and state.contract_end is not None:
            end = state.contract_end
            pending = [
                c
                for c in renewal_checkpoints(end, self._policy)
                if f"{end}:{c.days_before:g}" not in state.renewal_checkpoints_fired
            ]
            c = pending[0] if pending else None
            state.next_renewal_day = round(self._clock.day_of(c.at), 2) if c else None
            summary = f"Renewal due in {c.days_before:g} days" if c else ""
            if not await self._renewal_timer(state.next_renewal_day, summary):
                continue  # renewed (plan again) or ended
            assert c is not None
            state.renewal_checkpoints_fired.append(f"{end}:{c.days_before:g}")
            await self._raise(RenewalDueEvent(contract_end=end, days_before=c.days_before))

    async def _renewal_timer(self, day: float | None, summary: str) -> bool:
        """Wait for a renewal checkpoint; False if the contract changed or the journey ended."""
        seen = self._renewal_changed

        def moved() -> bool:
            return self._state.ended is not None or self._renewal_changed != seen

        if day is None:
            await workflow.wait_condition(moved)
            return False
        try:
            await workflow.wait_condition(
                moved,
                timeout=timedelta(seconds=self._clock.seconds_until(day, workflow.now())),
                timeout_summary=summary,
            )
        except TimeoutError:
            return True
        return False

    @workflow.update(name="renew_contract")
    async def renew_contract(self, renewal: RenewContract) -> JourneyState:
        was = self._state.contract_end
        self._state.contract_end = renewal.contract_end
        self._renewal_changed += 1
        workflow.upsert_search_attributes(
            [attributes.RENEWAL_DATE.value_set(midnight(renewal.contract_end, workflow.now()))]
        )
        await self._record(
            "contract_renewed",
            renewal.contract_end.isoformat(),
            f"Contract renewed: ends {renewal.contract_end} (was {was})",
        )
        return self._snapshot()

    @renew_contract.validator
    def _validate_renew_contract(self, renewal: RenewContract) -> None:
        self._refuse_if_ended()
        if not self._forking:
            raise ApplicationError("this journey predates renewals", type="NotSupported")
        today = self._clock.today(workflow.now())
        if renewal.contract_end <= today:
            raise ApplicationError(
                f"contract_end {renewal.contract_end} is not in the future (journey date {today})",
                type="RenewalInPast",
            )

    # ---- health and contacts -------------------------------------------------------------

    @workflow.signal(name="health_measured")
    async def health_measured(self, e: HealthMeasured) -> None:
        if await self._admit("health_measured", e.event_id, f"health:{e.measure}", e.occurred_at):
            at = self._clock.event_time(e.occurred_at, workflow.now())
            self._state.measures[e.measure] = MeasureValue(value=e.value, at=at, note=e.note)
            await self._rescore(f"{e.measure} measured {e.value:g}")

    async def _rescore(self, trigger: str) -> None:
        state = self._state
        values = {k: v.value for k, v in state.measures.items()}
        score = score_health(values, self._policy, state.health, trigger=trigger)
        first = state.health is None
        state.health = score
        if first or score.changed:
            workflow.upsert_search_attributes([attributes.HEALTH.value_set(score.colour)])
        if score.changed:
            await self._tell_plays()
            await self._raise(
                HealthChangedEvent(
                    from_colour=score.previous, to_colour=score.colour, score=score.score
                ),
                score.why,
                summary=f"Health {score.previous}→{score.colour}: {self._health_story()}",
            )

    def _health_story(self) -> str:
        """One line a CSM understands: each measure's value and what stands behind it."""
        h = self._state.health
        if h is None:
            return "not scored"
        parts = []
        for c in sorted(h.contributions, key=lambda c: c.value):
            note = self._state.measures.get(c.measure)
            parts.append(
                f"{c.measure} {c.value:g}/100" + (f" ({note.note})" if note and note.note else "")
            )
        return ", ".join(parts)

    @workflow.signal(name="key_contact_changed")
    async def key_contact_changed(self, e: KeyContactChanged) -> None:
        if not await self._admit(
            "key_contact_changed", e.event_id, f"contact:{e.contact_id}", e.occurred_at
        ):
            return
        contact = next((c for c in self._state.contacts if c.contact_id == e.contact_id), None)
        if contact is None:
            contact = ContactState(contact_id=e.contact_id, persona=e.persona, key=True)
            self._state.contacts.append(contact)
        contact.persona = e.persona
        contact.present = e.change != "left"
        await self._raise(
            KeyContactChangedEvent(
                contact_id=e.contact_id,
                persona=e.persona,
                event_id=e.event_id,
                occurred_at=e.occurred_at,
            ),
            summary=f"Key contact {e.contact_id} ({e.persona}) {e.change.replace('_', ' ')}",
        )

    @workflow.signal(name="support_escalated")
    async def support_escalated(self, e: SupportEscalated) -> None:
        if await self._admit(
            "support_escalated", e.event_id, f"ticket:{e.ticket_id}", e.occurred_at
        ):
            await self._raise(
                SupportEscalatedEvent(
                    ticket_id=e.ticket_id, event_id=e.event_id, occurred_at=e.occurred_at
                ),
                summary=f"Support ticket {e.ticket_id} escalated ({e.severity})",
            )

    # ---- end, policy, query --------------------------------------------------------------

    @workflow.update(name="end_journey")
    async def end_journey(self, end: EndJourney) -> JourneyState:
        if self._state.ended is None:
            self._state.ended = JourneyEnded(
                outcome=end.outcome, reason=end.reason, at=workflow.now()
            )
            self._stage_changed()
            workflow.set_current_details(f"Journey {end.outcome}: {end.reason}")
            await self._record("journey_ended", end.outcome, f"Journey {end.outcome}: {end.reason}")
            for play_id in list(self._state.open_plays):
                await self._signal_play(play_id, "stop", f"journey {end.outcome}: {end.reason}")
        return self._snapshot()

    @workflow.update(name="change_policy")
    async def change_policy(self, change: ChangePolicy) -> JourneyState:
        was = f"{self._policy.name} v{self._policy.version}"
        self._policy = change.policy
        self._state.policy_name = change.policy.name
        self._state.policy_version = change.policy.version
        await self._record(
            "policy_changed",
            f"{change.policy.name}-v{change.policy.version}",
            f"Policy changed to {change.policy.name} v{change.policy.version} (was {was}); "
            "the onboarding track stays as chosen",
        )
        return self._snapshot()

    @change_policy.validator
    def _validate_change_policy(self, change: ChangePolicy) -> None:
        self._refuse_if_ended()
        if not self._forking:
            raise ApplicationError("this journey predates policy changes", type="NotSupported")
        if (
            change.policy.name == self._policy.name
            and change.policy.version <= self._policy.version
        ):
            raise ApplicationError(
                f"policy {change.policy.name} v{change.policy.version} is not newer than "
                f"v{self._policy.version}",
                type="StalePolicy",
            )
        # Decoding the update checked its fields; whether they agree is checked here, once.
        if issues := check_policy(change.policy):
            raise ApplicationError(
                f"policy {change.policy.label} is invalid: {'; '.join(map(str, issues))}",
                type="InvalidPolicy",
            )

    @workflow.query(name="state")
    def state(self) -> JourneyState:
        return self._snapshot()

    # ---- plumbing ------------------------------------------------------------------------

    def _refuse_if_ended(self) -> None:
        if self._state.ended is not None:
            raise ApplicationError(
                f"journey for {self._state.account_id} has ended", type="JourneyEnded"
            )

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    async def _sleep_until(self, day: float, summary: str) -> bool:
        """Wait for journey day `day`; False if the journey ended first."""
        seconds = self._clock.seconds_until(day, workflow.now())
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._state.ended is not None,
                    timeout=timedelta(seconds=seconds),
                    timeout_summary=summary,
                )
        return self._state.ended is None

    async def _admit(
        self, kind: str, event_id: str, stream: str | None, occurred_at: datetime
    ) -> bool:
        """Apply an external event at most once, and never one older than what it would undo."""
        if self._state.ended is not None:
            return False
        verdict = self._state.ledger.admit(f"{kind}:{event_id}", stream, occurred_at)
        # A metric, not a command: no patch needed, and nothing is recorded on replay.
        workflow.metric_meter().create_counter(
            "waypost_journey_events", "External events by kind and verdict."
        ).add(1, {"kind": kind, "verdict": verdict})
        if verdict == "stale":
            await self._record(
                "event_stale",
                f"{kind}:{event_id}",
                f"Ignored stale {kind.replace('_', ' ')} {event_id}: "
                f"older than the last applied for {stream}",
                {"occurred_at": occurred_at.isoformat(), "stream": stream},
            )
        return verdict == "apply"

    async def _raise(
        self, event: PlayEvent, why: Why | None = None, summary: str | None = None
    ) -> None:
        """Record a trigger, decide which plays it starts, and start them."""
        now = workflow.now()
        plays_on = workflow.patched(PLAYS_PATCH)
        runs = self._state.play_runs if plays_on else []
        decisions = plays_to_start(event, runs, self._policy, self._clock.at(now))
        record = TriggerRecord(
            kind=event.kind,
            cause=event.cause,
            day=round(self._clock.day(now), 2),
            at=self._clock.at(now),
            summary=summary or event.describe(),
            why=why,
            decisions=decisions,
        )
        self._state.triggers = [*self._state.triggers, record][-MAX_TRIGGERS_KEPT:]
        starting = [d for d in decisions if d.start] if plays_on else []
        for d in starting:
            # Claimed before any await: a second trigger for the same cause, handled while
            # this one waits on Temporal, sees the run and is refused by the rules.
            self._state.play_runs = [
                *self._state.play_runs,
                PlayRun(play=d.play, cause=d.cause, started_at=record.at),
            ][-MAX_PLAY_RUNS_KEPT:]
        plays = ", ".join(d.play for d in decisions if d.start) or "no play"
        await self._record(
            "trigger",
            f"{event.kind}:{event.cause}:{event.event_id or record.day}",
            f"{record.summary} → {plays}",
            {
                "why": why.model_dump(mode="json") if why else None,
                "plays": [d.play for d in decisions if d.start],
            },
        )
        for d in starting:
            self._in_flight += 1
            try:
                await self._start_play(d, record, event)
            finally:
                self._in_flight -= 1

    async def _start_play(self, d: PlayDecision, trigger: TriggerRecord, event: PlayEvent) -> None:
        state, account = self._state, self._account
        # The workflow id names the cause; health plays also name the transition and its day,
        # so each distinct change is its own cause while retries of one change are not.
        cause = d.cause
        if isinstance(event, HealthChangedEvent):
            cause = f"{event.from_colour}-{event.to_colour}-day{int(trigger.day)}"
        play_id = play_workflow_id(state.account_id, d.play, cause)
        play = self._policy.play(d.play)
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
        self._starting.add(play_id)
        try:
            handle = await workflow.start_child_workflow(
                Playbook.run,
                PlaybookInput(
                    play_id=play_id,
                    account_id=state.account_id,
                    csm=state.csm,
                    journey_workflow_id=workflow.info().workflow_id,
                    journey_run=self._chain,
                    play=play,
                    templates=self._policy.templates,
                    policy_name=self._policy.name,
                    policy_version=self._policy.version,
                    cause=d.cause,
                    trigger_summary=trigger.summary,
                    why=trigger.why or d.why,
                    day_seconds=state.day_seconds,
                    journey_time=self._clock.at(workflow.now()),
                    facts=self._facts(),
                    values=values,
                ),
                id=play_id,
                # Plays outlive the journey's continue-as-new and report back by signal.
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                static_summary=f"Play: {play.title}",
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("play already running", extra={"play_id": play_id})
            return
        finally:
            self._starting.discard(play_id)
        handle.add_done_callback(functools.partial(self._play_done, play_id))
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
        self._facts_sent[play_id] = self._seen_by(state.open_plays[play_id], self._facts())
        workflow.upsert_search_attributes([attributes.OPEN_PLAYS.value_set(len(state.open_plays))])
        self._describe_wait()
        if play_id in self._ended_early:
            self._ended_early.discard(play_id)
            self._close_play(play_id)

    def _facts(self) -> JourneyFacts:
        s = self._state
        return JourneyFacts(
            health=s.health.colour if s.health else None,
            completed_milestones=[m.key for m in s.milestones if m.status == "done"]
            + [r.key for r in s.recurring if r.occurrence and r.occurrence in r.done_occurrences],
            adoption_at_risk=list(s.adoption.at_risk) if s.adoption else [],
        )

    async def _tell_plays(self) -> None:
        """Send changed facts to open plays, so they can exit (e.g. health back to green)."""
        facts = self._facts()
        for play_id, opened in list(self._state.open_plays.items()):
            seen = self._seen_by(opened, facts)
            if self._facts_sent.get(play_id) == seen:
                continue
            self._facts_sent[play_id] = seen
            await self._signal_play(play_id, "journey_facts", FactsChanged(facts=seen))

    def _seen_by(self, opened: OpenPlay, facts: JourneyFacts) -> JourneyFacts:
        if opened.watches is None or not workflow.patched(FACTS_WATCHED_PATCH):
            return facts
        return opened.watches.project(facts)

    async def _signal_play(self, play_id: str, name: str, arg: object) -> None:
        self._in_flight += 1
        try:
            await workflow.get_external_workflow_handle(play_id).signal(name, arg)
        except FailureError:
            # The play ended and its play_ended signal is on the way; nothing to tell it.
            workflow.logger.info("play gone", extra={"play_id": play_id})
        finally:
            self._in_flight -= 1

    @workflow.signal(name="play_ended")
    async def play_ended(self, ended: PlayEnded) -> None:
        if ended.journey_run not in (None, self._chain):
            return  # a play of an earlier journey for this account
        self._close_play(ended.play_id)

    def _close_play(self, play_id: str) -> None:
        state = self._state
        opened = state.open_plays.pop(play_id, None)
        if opened is None:
            # A short play can end before this journey sees it start (signal handlers run
            # first in an activation): close it once it is open. Otherwise: told twice.
            if play_id in self._starting and workflow.patched(EARLY_PLAY_END_PATCH):
                self._ended_early.add(play_id)
            return
        self._facts_sent.pop(play_id, None)
        state.play_runs = [
            r.model_copy(update={"ended_at": self._clock.at(workflow.now())})
            if r.play == opened.play and r.cause == opened.cause and r.ended_at is None
            else r
            for r in state.play_runs
        ]
        workflow.upsert_search_attributes([attributes.OPEN_PLAYS.value_set(len(state.open_plays))])
        self._describe_wait()

    def _play_done(self, play_id: str, run: asyncio.Task[Any]) -> None:
        """A play that failed cannot say it ended: close it here, so its cause is free again.
        (A play that ends normally signals `play_ended`, which also reaches a later run.)"""
        if run.cancelled() or run.exception() is None:
            return
        workflow.logger.warning(
            "play failed", extra={"play_id": play_id, "error": str(run.exception())}
        )
        self._close_play(play_id)

    def _snapshot(self) -> JourneyState:
        s, now = self._state, workflow.now()
        # Shallow: the copy is serialised at once and never mutated, and a deep copy of a
        # large state on every query is what makes a busy worker fall behind.
        return s.model_copy(
            update={
                "journey_day": round(self._clock.day(now), 2),
                "today": self._clock.today(now),
                "next_timers": next_timers(s, self._clock),
            }
        )

    def _stage_changed(self) -> None:
        stage = stage_of(self._state)
        if stage != self._state.stage:
            self._state.stage = stage
            workflow.upsert_search_attributes([attributes.STAGE.value_set(stage)])

    def _upsert_attributes(self) -> None:
        account = self._account
        workflow.upsert_search_attributes(
            [
                attributes.SEGMENT.value_set(account.segment),
                attributes.TIER.value_set(account.tier),
                attributes.STAGE.value_set(self._state.stage),
                attributes.CSM.value_set(account.csm),
                attributes.RENEWAL_DATE.value_set(midnight(account.contract_end, workflow.now())),
                attributes.OPEN_PLAYS.value_set(0),
            ]
        )

    def _describe_wait(self) -> None:
        """The Temporal UI's 'current details': what this journey is waiting for."""
        s = self._state
        pending = [m for m in s.milestones if m.status == "pending"]
        if pending:
            nxt = min(pending, key=lambda m: m.due_day)
            workflow.set_current_details(
                f"Onboarding ({s.track}): waiting for {nxt.title} "
                f"(due day {nxt.due_day:g}); {len(pending)} milestone(s) open"
            )
        else:
            workflow.set_current_details(
                f"Onboarding finished; {s.stage}, health {s.health_colour}"
            )

    async def _record(
        self,
        kind: str,
        subject: str | None,
        summary: str,
        details: dict[str, object] | None = None,
    ) -> None:
        info = workflow.info()
        entry = TimelineEntry(
            idempotency_key=f"{info.workflow_id}/{self._chain}/{kind}/{subject or '-'}",
            account_id=self._state.account_id,
            workflow_id=info.workflow_id,
            kind=kind,
            subject=subject,
            summary=summary,
            details=details or {},
            occurred_at=self._clock.at(workflow.now()) if self._forking else workflow.now(),
        )
        self._in_flight += 1
        try:
            await workflow.execute_activity_method(
                StoreActivities.record_timeline,
                entry,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=STORE_RETRY,
                summary=f"Timeline: {summary}"[:200],
            )
        finally:
            self._in_flight -= 1
