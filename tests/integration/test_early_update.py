"""A `change_policy` that reaches a journey with its first workflow task (update-with-start):
the update's validator runs before `run()` has asked which kind of journey this is, and a
journey starting now always forks, so the change is taken, not refused as `NotSupported`."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from starter.journeys import end_journey, journey_state
from tests.histories import save_history
from workflows.journey import names
from workflows.journey.messages import ChangePolicy, JourneyInput
from workflows.journey.state import JourneyState
from workflows.journey.workflow import CustomerJourney, journey_id
from workflows.models import Account
from workflows.policy import Policy

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("worker")
async def test_a_policy_change_with_the_first_task_is_taken(
    client: Client, task_queue: str, policy: Policy, make_account: Callable[..., Account]
) -> None:
    account = make_account()
    start = WithStartWorkflowOperation(
        CustomerJourney.run,
        JourneyInput(account=account, policy=policy, day_seconds=1.0),
        id=journey_id(account.account_id),
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        task_queue=task_queue,
    )
    newer = policy.model_copy(update={"version": policy.version + 1})
    changed: JourneyState = await client.execute_update_with_start_workflow(
        names.CHANGE_POLICY,
        ChangePolicy(policy=newer),
        start_workflow_operation=start,
        result_type=JourneyState,
    )
    assert changed.policy_version == newer.version
    state = await journey_state(client, account.account_id)
    assert state.policy_version == newer.version
    # The saved history is of a closed journey, so it is ended here rather than at teardown.
    await end_journey(client, account.account_id, "ended", "policy change checked")
    await save_history(client, journey_id(account.account_id), "policy-changed-with-first-task-v1")
