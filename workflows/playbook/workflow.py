"""Playbook: one run of one play for one cause, as a child of the customer's journey.

It creates tasks, sends messages, waits for conditions, escalates when an SLA passes, and
ends early when its exit condition holds, closing what it left open. It outlives the
journey's continue-as-new (the journey abandons, not cancels, its children) and reports its
end by signalling the journey's workflow id.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.models import (
        OutboxMessage,
        PlayFinished,
        PlayStarted,
        TaskClose,
        TasksClose,
        TaskSpec,
    )
    from activities.plays import PlayActivities
    from workflows.clock import JourneyClock
    from workflows.journey import names as journey_names
    from workflows.playbook import names, patches
    from workflows.playbook.effects import PlayEffects
    from workflows.playbook.messages import (
        FactsChanged,
        PlaybookInput,
        PlayEnded,
        PlayState,
        StepState,
        TaskDone,
    )
    from workflows.playbook.plan import render
    from workflows.policy import EscalateStep, NotifyStep, TaskStep, WaitUntilStep
    from workflows.rules import JourneyFacts, check_condition

WORKFLOW_NAME = names.WORKFLOW


@workflow.defn(name=WORKFLOW_NAME)
class Playbook:
    @workflow.init
    def __init__(self, start: PlaybookInput) -> None:
        self._in = start
        self._clock = JourneyClock(workflow.now(), start.journey_time, start.day_seconds)
        self._fx = PlayEffects(start, self._clock)
        self._state = PlayState(
            play_id=start.play_id,
            play=start.play.key,
            title=start.play.title,
            cause=start.cause,
            why=start.trigger_summary,
            steps=[StepState(key=s.key, kind=s.kind) for s in start.play.steps],
            facts=start.facts,
        )
        self._done_tasks: set[int] = set()
        self._done_early: dict[int, TaskDone] = {}
        self._merged = False
        self._stopped: str | None = None

    @workflow.run
    async def run(self, start: PlaybookInput) -> PlayState:
        state = self._state
        self._merged = workflow.patched(patches.MERGED_EFFECTS)
        started = self._fx.entry(
            "play_started", None, f"{start.play.title}: {start.trigger_summary}"
        )
        await self._fx.run(
            PlayActivities.record_play_started,
            PlayStarted(
                play_id=start.play_id,
                run_id=workflow.info().run_id,
                account_id=start.account_id,
                play=start.play.key,
                cause=start.cause,
                title=start.play.title,
                why=start.trigger_summary,
                why_record=start.why.model_dump(mode="json") if start.why else {},
                started_at=workflow.now(),
                timeline=started if self._merged else None,
            ),
            "Record play started",
        )
        if not self._merged:
            await self._fx.timeline("play_started", None, started.summary)
        # Every wait in the steps also wakes on exit, so the steps stop at the next await
        # instead of being cancelled mid-write.
        await self._run_steps()
        if not self._should_exit():
            # Steps all taken: the play is over when its tasks are done, or it exits.
            workflow.set_current_details(f"Waiting for {len(self._open())} open task(s)")
            await workflow.wait_condition(lambda: not self._open() or self._should_exit())
        if self._should_exit():
            await self._exit()
        else:
            state.status = "completed"
            state.ended_reason = "all steps and tasks done"
        await self._finish()
        return state

    def _open(self) -> dict[int, str]:
        return {t: s for t, s in self._state.open_tasks.items() if t not in self._done_tasks}

    def _facts(self) -> JourneyFacts:
        done = [s.key for s in self._state.steps if s.status == "done"]
        return self._state.facts.model_copy(update={"done_steps": done})

    def _should_exit(self) -> bool:
        return self._stopped is not None or self._exit_met()

    def _exit_met(self) -> bool:
        cond = self._in.play.exit_when
        return cond is not None and check_condition(cond, self._facts()).met

    async def _run_steps(self) -> None:
        for step, st in zip(self._in.play.steps, self._state.steps, strict=True):
            if self._should_exit():
                return
            st.status = "running"
            workflow.set_current_details(f"Step {step.key} ({step.kind})")
            if isinstance(step, TaskStep):
                st.task_id = await self._task(step.key, step.title, step.assignee, step.due_days)
                if step.template:
                    await self._notify(
                        step.key, step.assignee, step.template, task=step.title, due=step.due_days
                    )
                # A task step is done when its task is (signal task_done), not when created.
                st.status = "done" if st.task_id in self._done_tasks else "pending"
            elif isinstance(step, NotifyStep):
                await self._notify(step.key, step.to, step.template)
                st.status = "done"
            elif isinstance(step, WaitUntilStep):
                await self._wait_until(step, st)
            elif isinstance(step, EscalateStep):
                await self._escalate(step, st)

    async def _wait_until(self, step: WaitUntilStep, st: StepState) -> None:
        try:
            await workflow.wait_condition(
                lambda: check_condition(step.condition, self._facts()).met or self._should_exit(),
                timeout=timedelta(seconds=step.timeout_days * self._in.day_seconds),
                timeout_summary=f"Wait for {step.key} (up to {step.timeout_days:g} days)",
            )
            st.status = "done"
        except TimeoutError:
            st.status = "timed_out"
            st.note = check_condition(step.condition, self._facts()).reason
            await self._fx.timeline("play_wait_timed_out", step.key, f"{step.key}: {st.note}")

    async def _escalate(self, step: EscalateStep, st: StepState) -> None:
        watched = next(s for s in self._state.steps if s.key == step.if_not_done)
        try:
            await workflow.wait_condition(
                lambda: watched.status == "done" or self._should_exit(),
                timeout=timedelta(seconds=step.sla_days * self._in.day_seconds),
                timeout_summary=f"SLA for {step.if_not_done}: {step.sla_days:g} days",
            )
            st.status = "skipped"
            st.note = "play exiting" if self._should_exit() else f"{step.if_not_done} done in time"
            return
        except TimeoutError:
            pass
        title = f"Escalated: {step.if_not_done} not done within {step.sla_days:g} days"
        st.task_id = await self._task(step.key, title, step.to, step.sla_days, watched.task_id)
        if step.template:
            await self._notify(step.key, step.to, step.template, task=title, due=step.sla_days)
        st.status = "escalated"
        await self._fx.timeline(
            "play_escalated", step.key, f"{self._in.play.title}: {title} → {step.to}"
        )

    async def _task(
        self, key: str, title: str, role: str, due_days: float, escalation_of: int | None = None
    ) -> int:
        now = workflow.now()
        row = await self._fx.run(
            PlayActivities.create_task,
            TaskSpec(
                idempotency_key=f"{self._fx.key()}/{key}",
                play_id=self._in.play_id,
                account_id=self._in.account_id,
                step=key,
                title=title,
                assignee_role=role,
                csm=self._in.csm,
                # Real time, like every time in `tasks`; pages show it as a journey date.
                due_at=now + timedelta(seconds=due_days * self._in.day_seconds),
                escalation_of=escalation_of,
            ),
            f"Task for {role}: {title}",
        )
        self._state.open_tasks[row.id] = key
        early = self._done_early.pop(row.id, None)
        if row.status != "open":
            self._done_tasks.add(row.id)
        elif early is not None:
            await self._close_done(early, key)
        return row.id

    async def _notify(
        self, key: str, to: str, template_key: str, task: str = "", due: float = 0.0
    ) -> None:
        template = self._in.templates.get(template_key)
        if template is None:  # the policy check makes this impossible; say so if it happens
            raise ApplicationError(f"unknown template {template_key}", type="InvalidTask")
        # A plain notify step has no task of its own: it speaks for the play, due today.
        due_date = (self._clock.at(workflow.now()) + timedelta(days=due)).date().isoformat()
        values = {
            **self._in.values,
            "role": to,
            "task": task or self._in.play.title,
            "due_date": due_date,
            "play": self._in.play.title,
        }
        subject, body = render(template, values)
        await self._fx.run(
            PlayActivities.queue_message,
            OutboxMessage(
                idempotency_key=f"{self._fx.key()}/{key}/{to}",
                play_id=self._in.play_id,
                account_id=self._in.account_id,
                recipient=to,
                subject=subject,
                body=body,
            ),
            f"Message to {to}: {template_key}",
        )

    @workflow.signal(name=names.TASK_DONE)
    async def task_done(self, done: TaskDone) -> None:
        key = self._state.open_tasks.get(done.task_id)
        if key is None:
            # The row exists once create_task commits, so a CSM can finish the task before
            # this play sees the activity's result (and signal handlers run first in an
            # activation). Keep it for _task; an id that never comes is not ours.
            if workflow.patched(patches.EARLY_DONE):
                self._done_early[done.task_id] = done
            return
        if done.task_id in self._done_tasks:
            return  # said twice
        await self._close_done(done, key)

    async def _close_done(self, done: TaskDone, key: str) -> None:
        self._done_tasks.add(done.task_id)
        for st in self._state.steps:
            if st.task_id == done.task_id and st.status in ("pending", "running"):
                st.status = "done"
        await self._fx.run(
            PlayActivities.close_task,
            TaskClose(task_id=done.task_id, status="done", by=done.by),
            f"Close task {key}",
        )

    @workflow.signal(name=names.JOURNEY_FACTS)
    def journey_facts(self, changed: FactsChanged) -> None:
        self._state.facts = changed.facts

    @workflow.query(name=names.STATE)
    def state(self) -> PlayState:
        return self._state

    @workflow.signal(name=names.STOP)
    def stop(self, reason: str) -> None:
        """The journey ended (churned, or closed): nothing left to play for."""
        self._stopped = reason

    async def _exit(self) -> None:
        cond = self._in.play.exit_when
        if self._stopped is not None:
            reason = f"stopped: {self._stopped}"
        elif cond is None:
            raise ApplicationError(
                "exiting with neither a stop nor an exit condition",
                type="InvariantBroken",
                non_retryable=True,
            )
        else:
            reason = f"exit condition met: {check_condition(cond, self._facts()).reason}"
        self._state.status = "exited"
        self._state.ended_reason = reason
        still_open = self._open()
        if self._merged:
            if still_open:
                self._done_tasks.update(still_open)
                await self._fx.run(
                    PlayActivities.close_tasks,
                    TasksClose(task_ids=list(still_open), status="resolved_by_exit", by=reason),
                    f"Resolve {', '.join(still_open.values())} by exit",
                )
            return
        for task_id, key in still_open.items():
            self._done_tasks.add(task_id)
            await self._fx.run(
                PlayActivities.close_task,
                TaskClose(task_id=task_id, status="resolved_by_exit", by=reason),
                f"Resolve task {key} by exit",
            )

    async def _finish(self) -> None:
        state, now = self._state, workflow.now()
        await workflow.wait_condition(workflow.all_handlers_finished)
        outcome = state.ended_reason or state.status
        ended_entry = self._fx.entry(
            "play_ended", state.status, f"{state.title} {state.status}: {outcome}"
        )
        await self._fx.run(
            PlayActivities.record_play_finished,
            PlayFinished(
                play_id=state.play_id,
                run_id=workflow.info().run_id,
                status=state.status,
                outcome=outcome,
                ended_at=now,
                timeline=ended_entry if self._merged else None,
            ),
            "Record play finished",
        )
        if not self._merged:
            await self._fx.timeline("play_ended", state.status, ended_entry.summary)
        if state.status == "running":
            raise ApplicationError(
                "finishing a play that has not ended", type="InvariantBroken", non_retryable=True
            )
        journey = workflow.get_external_workflow_handle(self._in.journey_workflow_id)
        ended = PlayEnded(
            play_id=state.play_id,
            journey_run=self._in.journey_run,
            play=state.play,
            cause=state.cause,
            outcome=state.status,
            reason=outcome,
            at=now,
        )
        try:
            await journey.signal(journey_names.PLAY_ENDED, ended)
        except FailureError:
            # The journey has ended since; the play's end is in Postgres all the same.
            workflow.logger.info("journey gone; play end not signalled")
