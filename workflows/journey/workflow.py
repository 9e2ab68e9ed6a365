"""CustomerJourney: one long-running workflow per customer account.

It forks instead of walking a line: onboarding milestones, adoption checks, tenure stages with
recurring milestones, renewal checkpoints and health run as concurrent branches of one
workflow (`branches/`). This class owns the message handlers and delegates; the policy's pure
rules (workflows/rules/) decide. Every duration is policy days × the journey's `day_seconds`,
so the same code runs years in production and seconds in tests.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.journey import names, patches, prose
    from workflows.journey.branches.adoption import Adoption
    from workflows.journey.branches.health import Health
    from workflows.journey.branches.maturity import Maturity
    from workflows.journey.branches.onboarding import Onboarding
    from workflows.journey.branches.renewal import Renewal
    from workflows.journey.context import JourneyContext
    from workflows.journey.effects import Effects
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
    from workflows.journey.onboarding import new_state
    from workflows.journey.plays import Plays
    from workflows.journey.state import Completed, JourneyEnded, JourneyState
    from workflows.playbook.messages import PlayEnded
    from workflows.policy import check_policy

WORKFLOW_NAME = names.WORKFLOW


def journey_id(account_id: str) -> str:
    return f"journey-{account_id}"


@workflow.defn(name=WORKFLOW_NAME)
class CustomerJourney:
    @workflow.init
    def __init__(self, start: JourneyInput) -> None:
        if start.carried is not None:
            state = start.carried.model_copy(update={"runs": start.carried.runs + 1})
        else:
            state = new_state(start, workflow.now())
        self._ctx = ctx = JourneyContext(
            account=start.account,
            policy=start.policy,
            state=state,
            clock=state.clock(),
            chain=workflow.info().first_execution_run_id,
        )
        self._fx = fx = Effects(ctx)
        self._plays = plays = Plays(ctx, fx)
        self._onboarding = Onboarding(ctx, fx, plays)
        self._health = Health(ctx, fx, plays)
        self._adoption = Adoption(ctx, fx, plays, self._health)
        self._maturity = Maturity(ctx, fx, plays)
        self._renewal = Renewal(ctx, fx, plays)

    @workflow.run
    async def run(self, start: JourneyInput) -> JourneyState:
        ctx, state = self._ctx, self._ctx.state
        fresh = start.carried is None
        if fresh:
            self._fx.journey_started()
        ctx.forking = workflow.patched(patches.FORKING)
        if fresh:
            await self._fx.record(
                "journey_started",
                None,
                prose.journey_started(state.track, state.track_reason),
                {
                    "track": state.track,
                    "policy": state.policy_name,
                    "version": state.policy_version,
                },
            )
        tasks = [asyncio.create_task(w) for w in self._onboarding.watchers()]
        if ctx.forking:
            tasks += [
                asyncio.create_task(self._adoption.run()),
                asyncio.create_task(self._maturity.run()),
                asyncio.create_task(self._renewal.run()),
            ]
        self._fx.describe_wait()
        forking = bool(ctx.forking)  # patched() answered above, once for the run
        await workflow.wait_condition(
            lambda: ctx.ended or (forking and workflow.info().is_continue_as_new_suggested())
        )
        if not ctx.ended:
            await self._continue_as_new()
        await asyncio.gather(*tasks)
        # Let an in-flight update (end_journey itself, a late complete_milestone) finish.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ctx.snapshot()

    async def _continue_as_new(self) -> None:
        # Never from inside a handler, and never while an effect is half-recorded: the new
        # run starts from the carried state, so every change must be in it.
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and self._fx.in_flight == 0
        )
        ctx = self._ctx
        workflow.continue_as_new(
            JourneyInput(
                account=ctx.account,
                policy=ctx.policy,
                day_seconds=ctx.state.day_seconds,
                epoch=ctx.clock.epoch,
                carried=ctx.state,
            )
        )

    def _refuse_if_ended(self) -> None:
        if self._ctx.ended:
            raise ApplicationError(
                f"journey for {self._ctx.state.account_id} has ended", type="JourneyEnded"
            )

    def _refuse_unless_forking(self, what: str, *, undecided_ok: bool = False) -> None:
        # Undecided: the message came with the run's first task, before run() asked. A run
        # starting now always forks (only a replay can say otherwise, and replays do not
        # validate), so a handler that can wait for run() to ask (undecided_ok) takes it.
        forking = self._ctx.forking
        if forking is False or (forking is None and not undecided_ok):
            raise ApplicationError(f"this journey predates {what}", type="NotSupported")

    async def _forking_decided(self, what: str) -> None:
        """Wait until run() has asked whether this run forks; no wait, no yield once it has."""
        if self._ctx.forking is None:
            await workflow.wait_condition(lambda: self._ctx.forking is not None)
            self._refuse_unless_forking(what)

    # ---- onboarding ----------------------------------------------------------------------

    @workflow.update(name=names.COMPLETE_MILESTONE)
    async def complete_milestone(self, done: MilestoneDone) -> Completed:
        return await self._onboarding.complete(done)

    @complete_milestone.validator
    def _validate_complete_milestone(self, done: MilestoneDone) -> None:
        self._refuse_if_ended()
        self._onboarding.refuse_completion(done)

    @workflow.update(name=names.ADD_ROLLOUT_STAGE)
    async def add_rollout_stage(self, stage: AddRolloutStage) -> JourneyState:
        await self._onboarding.add_stage(stage)
        return self._ctx.snapshot()

    @add_rollout_stage.validator
    def _validate_add_rollout_stage(self, stage: AddRolloutStage) -> None:
        self._refuse_if_ended()
        self._refuse_unless_forking("rollout stages")
        self._onboarding.refuse_stage(stage)

    # ---- adoption ------------------------------------------------------------------------

    @workflow.signal(name=names.USAGE_REPORTED)
    async def usage_reported(self, e: UsageReported) -> None:
        await self._adoption.usage_reported(e)

    @workflow.signal(name=names.INCIDENT_REPORTED)
    async def incident_reported(self, e: IncidentReported) -> None:
        await self._adoption.incident_reported(e)

    # ---- renewal -------------------------------------------------------------------------

    @workflow.update(name=names.RENEW_CONTRACT)
    async def renew_contract(self, renewal: RenewContract) -> JourneyState:
        await self._renewal.renew(renewal)
        return self._ctx.snapshot()

    @renew_contract.validator
    def _validate_renew_contract(self, renewal: RenewContract) -> None:
        self._refuse_if_ended()
        self._refuse_unless_forking("renewals")
        self._renewal.refuse(renewal)

    # ---- health and contacts -------------------------------------------------------------

    @workflow.signal(name=names.HEALTH_MEASURED)
    async def health_measured(self, e: HealthMeasured) -> None:
        await self._health.measured(e)

    @workflow.signal(name=names.KEY_CONTACT_CHANGED)
    async def key_contact_changed(self, e: KeyContactChanged) -> None:
        await self._health.key_contact_changed(e)

    @workflow.signal(name=names.SUPPORT_ESCALATED)
    async def support_escalated(self, e: SupportEscalated) -> None:
        await self._health.support_escalated(e)

    # ---- plays ---------------------------------------------------------------------------

    @workflow.signal(name=names.PLAY_ENDED)
    async def play_ended(self, ended: PlayEnded) -> None:
        self._plays.ended(ended)

    # ---- end, policy, query --------------------------------------------------------------

    @workflow.update(name=names.END_JOURNEY)
    async def end_journey(self, end: EndJourney) -> JourneyState:
        state = self._ctx.state
        if state.ended is None:
            state.ended = JourneyEnded(outcome=end.outcome, reason=end.reason, at=workflow.now())
            self._fx.stage_changed()
            said = prose.journey_ended(end.outcome, end.reason)
            workflow.set_current_details(said)
            await self._fx.record("journey_ended", end.outcome, said)
            await self._plays.stop_all(f"journey {end.outcome}: {end.reason}")
        return self._ctx.snapshot()

    @workflow.update(name=names.CHANGE_POLICY)
    async def change_policy(self, change: ChangePolicy) -> JourneyState:
        await self._forking_decided("policy changes")
        ctx = self._ctx
        was = prose.policy_name(ctx.policy)
        ctx.policy = change.policy
        ctx.state.policy_name = change.policy.name
        ctx.state.policy_version = change.policy.version
        await self._fx.record(
            "policy_changed",
            f"{change.policy.name}-v{change.policy.version}",
            prose.policy_changed(change.policy, was),
        )
        return ctx.snapshot()

    @change_policy.validator
    def _validate_change_policy(self, change: ChangePolicy) -> None:
        self._refuse_if_ended()
        self._refuse_unless_forking("policy changes", undecided_ok=True)
        policy, pinned = change.policy, self._ctx.policy
        if policy.name == pinned.name and policy.version <= pinned.version:
            raise ApplicationError(
                f"policy {policy.name} v{policy.version} is not newer than v{pinned.version}",
                type="StalePolicy",
            )
        # Decoding the update checked its fields; whether they agree is checked here, once.
        if issues := check_policy(change.policy):
            raise ApplicationError(
                f"policy {change.policy.label} is invalid: {'; '.join(map(str, issues))}",
                type="InvalidPolicy",
            )

    @workflow.query(name=names.STATE)
    def state(self) -> JourneyState:
        return self._ctx.snapshot()
