"""Health and the events that reach plays directly: a measure's new value rescored into a
colour, a key contact who left or joined, a support ticket escalated."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.journey import names, prose
    from workflows.journey.context import JourneyContext
    from workflows.journey.effects import Effects
    from workflows.journey.messages import HealthMeasured, KeyContactChanged, SupportEscalated
    from workflows.journey.plays import Plays
    from workflows.journey.state import ContactState, MeasureValue
    from workflows.rules import (
        HealthChangedEvent,
        KeyContactChangedEvent,
        SupportEscalatedEvent,
        score_health,
    )


class Health:
    def __init__(self, ctx: JourneyContext, fx: Effects, plays: Plays) -> None:
        self._ctx = ctx
        self._fx = fx
        self._plays = plays

    async def measured(self, e: HealthMeasured) -> None:
        ctx = self._ctx
        if await self._fx.admit(
            names.HEALTH_MEASURED, e.event_id, f"health:{e.measure}", e.occurred_at
        ):
            at = ctx.clock.event_time(e.occurred_at, workflow.now())
            ctx.state.measures[e.measure] = MeasureValue(value=e.value, at=at, note=e.note)
            await self.rescore(prose.measured(e.measure, e.value))

    async def rescore(self, trigger: str) -> None:
        ctx, state = self._ctx, self._ctx.state
        values = {k: v.value for k, v in state.measures.items()}
        score = score_health(values, ctx.policy, state.health, trigger=trigger)
        first = state.health is None
        state.health = score
        if first or score.changed:
            self._fx.health_changed(score.colour)
        if score.changed:
            await self._plays.tell()
            await self._plays.trigger(
                HealthChangedEvent(
                    from_colour=score.previous, to_colour=score.colour, score=score.score
                ),
                score.why,
                summary=prose.health_changed(score, prose.health_story(score, state.measures)),
            )

    async def key_contact_changed(self, e: KeyContactChanged) -> None:
        state = self._ctx.state
        if not await self._fx.admit(
            names.KEY_CONTACT_CHANGED, e.event_id, f"contact:{e.contact_id}", e.occurred_at
        ):
            return
        contact = next((c for c in state.contacts if c.contact_id == e.contact_id), None)
        if contact is None:
            contact = ContactState(contact_id=e.contact_id, persona=e.persona, key=True)
            state.contacts.append(contact)
        contact.persona = e.persona
        contact.present = e.change != "left"
        await self._plays.trigger(
            KeyContactChangedEvent(
                contact_id=e.contact_id,
                persona=e.persona,
                event_id=e.event_id,
                occurred_at=e.occurred_at,
            ),
            summary=prose.key_contact_changed(e.contact_id, e.persona, e.change),
        )

    async def support_escalated(self, e: SupportEscalated) -> None:
        if await self._fx.admit(
            names.SUPPORT_ESCALATED, e.event_id, f"ticket:{e.ticket_id}", e.occurred_at
        ):
            await self._plays.trigger(
                SupportEscalatedEvent(
                    ticket_id=e.ticket_id, event_id=e.event_id, occurred_at=e.occurred_at
                ),
                summary=prose.support_escalated(e.ticket_id, e.severity),
            )
