"""A journey's `change_policy` update: the new policy is checked where it enters the journey
(the update validator), since a worker decoding a payload validates fields only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError

from tests.helpers import Journeys, state_of
from workflows.journey.messages import ChangePolicy
from workflows.journey.state import JourneyState
from workflows.journey.workflow import journey_id
from workflows.models import Account
from workflows.policy import Policy, TaskStep

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("worker")
async def test_change_policy_refuses_a_policy_whose_fields_disagree_and_takes_a_good_one(
    client: Client, journeys: Journeys, policy: Policy, make_account: Callable[..., Account]
) -> None:
    account = make_account()
    await journeys.start(account, day_seconds=1.0)
    await state_of(client, account)  # running: its first task is done
    handle = client.get_workflow_handle(journey_id(account.account_id))

    data = policy.model_dump(mode="json", by_alias=True)
    data["version"] = policy.version + 1
    p, play = next((i, p) for i, p in enumerate(policy.plays) if isinstance(p.steps[0], TaskStep))
    data["plays"][p]["steps"][0]["assignee"] = "nobody"  # a role the policy does not define
    disagreeing = Policy.model_validate(data)  # every field is valid on its own
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            "change_policy", ChangePolicy(policy=disagreeing), result_type=JourneyState
        )
    cause = refused.value.__cause__
    assert getattr(cause, "type", None) == "InvalidPolicy"
    path = f"plays.{play.key}.steps.{play.steps[0].key}.assignee"
    assert f"{path}: unknown role 'nobody'" in str(cause)

    newer = policy.model_copy(update={"version": policy.version + 1})
    changed: JourneyState = await handle.execute_update(
        "change_policy", ChangePolicy(policy=newer), result_type=JourneyState
    )
    assert changed.policy_version == newer.version
