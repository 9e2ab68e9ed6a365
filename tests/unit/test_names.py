"""The names journeys and plays answer to, held fixed.

Running journeys, running plays and saved histories hold these strings: the literals below are
what they depend on, written once. A rename of a constant or of a handler fails here first.
"""

from __future__ import annotations

from types import ModuleType

from temporalio import workflow

from workflows.journey import names
from workflows.journey.messages import SIGNALS
from workflows.journey.workflow import CustomerJourney
from workflows.playbook import names as play_names
from workflows.playbook.workflow import Playbook

JOURNEY_EVENTS = {
    "usage_reported",
    "incident_reported",
    "health_measured",
    "key_contact_changed",
    "support_escalated",
}
JOURNEY_SIGNALS = JOURNEY_EVENTS | {"play_ended"}
JOURNEY_UPDATES = {
    "complete_milestone",
    "add_rollout_stage",
    "renew_contract",
    "end_journey",
    "change_policy",
}
PLAYBOOK_SIGNALS = {"task_done", "journey_facts", "stop"}
QUERIES = {"state"}


def _constants(module: ModuleType) -> set[str]:
    return {v for k, v in vars(module).items() if k.isupper() and isinstance(v, str)}


def test_the_journey_registers_the_names_running_journeys_use() -> None:
    defn = workflow._Definition.must_from_class(CustomerJourney)
    assert defn.name == names.WORKFLOW == "CustomerJourney"
    assert set(defn.signals) == JOURNEY_SIGNALS
    assert set(defn.updates) == JOURNEY_UPDATES
    assert set(defn.queries) == QUERIES


def test_the_playbook_registers_the_names_running_plays_use() -> None:
    defn = workflow._Definition.must_from_class(Playbook)
    assert defn.name == play_names.WORKFLOW == "Playbook"
    assert set(defn.signals) == PLAYBOOK_SIGNALS
    assert set(defn.updates) == set()
    assert set(defn.queries) == QUERIES


def test_the_constants_are_those_names_and_no_others() -> None:
    assert {
        names.USAGE_REPORTED,
        names.INCIDENT_REPORTED,
        names.HEALTH_MEASURED,
        names.KEY_CONTACT_CHANGED,
        names.SUPPORT_ESCALATED,
    } == JOURNEY_EVENTS
    assert names.PLAY_ENDED == "play_ended"
    assert {
        names.COMPLETE_MILESTONE,
        names.ADD_ROLLOUT_STAGE,
        names.RENEW_CONTRACT,
        names.END_JOURNEY,
        names.CHANGE_POLICY,
    } == JOURNEY_UPDATES
    assert names.STATE == play_names.STATE == "state"
    assert {play_names.TASK_DONE, play_names.JOURNEY_FACTS, play_names.STOP} == PLAYBOOK_SIGNALS
    journey_all = JOURNEY_SIGNALS | JOURNEY_UPDATES | QUERIES | {"CustomerJourney"}
    assert _constants(names) == journey_all
    assert _constants(play_names) == PLAYBOOK_SIGNALS | QUERIES | {"Playbook"}


def test_every_external_event_has_a_model_and_nothing_else_does() -> None:
    # Callers validate an event against SIGNALS before they signal it: play_ended is the
    # plays' own signal, never sent from outside.
    assert set(SIGNALS) == JOURNEY_EVENTS
