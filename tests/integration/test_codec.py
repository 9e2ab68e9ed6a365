"""Customer data stays private on a real Temporal server: with a key set, what the server
stores (and a client without the key reads) holds no name or e-mail, and plaintext sent by a
client without the key is refused."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from activities.models import OutboxMessage
from runtime.codec import PayloadKeys
from runtime.settings import Settings
from runtime.temporal import connect
from starter.journeys import journey_state, send_event
from store.tasks import list_tasks
from tests.helpers import Journeys, champion, contact_left, new_stakeholder_play
from tests.waiting import eventually
from worker import build_worker, replay
from workflows.journey import names
from workflows.journey.messages import HealthMeasured
from workflows.journey.workflow import journey_id
from workflows.models import Account

pytestmark = pytest.mark.integration

NAME = "Philippa Ravensworth-Okonkwo"
ACCOUNT_NAME = "Ravensworth Okonkwo Holdings"
EMAIL = "philippa@ravensworth-okonkwo.example"
PERSONAL = (NAME, ACCOUNT_NAME, EMAIL)


@dataclass
class Encrypted:
    keys: PayloadKeys
    client: Client  # has the key
    plain: Client  # the same server, no key: what anyone reading Temporal's data sees


@pytest.fixture
async def encrypted(temporal_address: str) -> AsyncIterator[Encrypted]:
    keys = PayloadKeys(os.urandom(32))
    yield Encrypted(
        keys,
        await connect(temporal_address, keys=keys),
        await Client.connect(temporal_address),
    )


def _account(make_account: Callable[..., Account]) -> Account:
    slug = uuid.uuid4().hex[:6]
    return make_account(name=ACCOUNT_NAME, contacts=(champion(slug, name=NAME, email=EMAIL),))


async def _stored(client: Client, workflow_id: str) -> bytes:
    """Everything the server keeps of a workflow's history, as raw bytes (payload data is
    raw bytes there, so a name in it would show)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return b"".join(event.SerializeToString() for event in history.events)


def _leaks(stored: bytes) -> list[str]:
    return [text for text in PERSONAL if text.encode() in stored]


@pytest.mark.usefixtures("worker")
async def test_without_a_key_the_history_shows_names_so_the_check_below_can_see_them(
    client: Client,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    account = _account(make_account)
    await journeys.start(account, day_seconds=5.0)
    await journey_state(client, account.account_id)  # running: its first task is done

    assert _leaks(await _stored(client, journey_id(account.account_id))) != []


async def test_with_a_key_the_server_holds_no_name_or_email(
    encrypted: Encrypted,
    tmp_path: Path,
    pool: asyncpg.Pool,
    task_queue: str,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    account = _account(make_account)
    contact = account.contacts[0].contact_id
    play_id = new_stakeholder_play(account)
    async with build_worker(encrypted.client, pool, task_queue):
        await journeys.start(account, day_seconds=5.0, client=encrypted.client)
        await send_event(
            encrypted.client, account.account_id, names.KEY_CONTACT_CHANGED, contact_left(contact)
        )
        # The play renders messages with the account's and the contact's names: payloads
        # through the journey, the play and their activities all carry personal data.
        await eventually(
            lambda: list_tasks(pool, account_id=account.account_id, status=None),
            lambda rows: any(r.play_id == play_id for r in rows),
            what="the play's first task",
        )
        state = await journey_state(encrypted.client, account.account_id)
        assert state.account_id == account.account_id  # the key holder reads it all

        for workflow_id in (journey_id(account.account_id), play_id):
            stored = await _stored(encrypted.plain, workflow_id)
            assert _leaks(stored) == [], f"{workflow_id} stores {_leaks(stored)} in plaintext"
            assert b"binary/encrypted" in stored

        # A client without the key sees ciphertext it cannot turn back into an account.
        handle = encrypted.plain.get_workflow_handle(journey_id(account.account_id))
        async for event in handle.fetch_history_events():
            started = event.workflow_execution_started_event_attributes
            [payload] = started.input.payloads
            assert payload.metadata["encoding"] == b"binary/encrypted"
            with pytest.raises(KeyError, match=r"Unknown payload encoding binary/encrypted"):
                await pydantic_data_converter.decode([payload])
            break
        # Closed before the export below: a history exported for replay is of a closed run.
        await encrypted.client.get_workflow_handle(play_id).terminate("exported for replay")

    # Histories exported from production are ciphertext too: replaying them before a deploy
    # (`python worker.py --replay`) needs the key, and works with it.
    exported = tmp_path / f"{play_id}.json"
    history = await encrypted.plain.get_workflow_handle(play_id).fetch_history()
    exported.write_text(history.to_json())
    keyed = Settings(payload_key=SecretStr(base64.b64encode(encrypted.keys.current).decode()))
    assert await replay(keyed, [exported]) == 0
    assert await replay(Settings(payload_key=None), [exported]) == 1


async def test_plaintext_sent_without_the_key_is_refused(
    encrypted: Encrypted,
    temporal_address: str,
    pool: asyncpg.Pool,
    task_queue: str,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    account = make_account()
    wid = journey_id(account.account_id)
    async with build_worker(encrypted.client, pool, task_queue):
        await journeys.start(account, day_seconds=5.0, client=encrypted.client)
        await eventually(lambda: journey_state(encrypted.client, account.account_id), bool)

        # Someone with access to the namespace but not the key signals in plaintext.
        intruder = await connect(temporal_address, keys=None)
        forged = HealthMeasured(
            event_id=uuid.uuid4().hex,
            occurred_at=datetime.now(UTC),
            measure="support",
            value=0,
        )
        await intruder.get_workflow_handle(wid).signal(names.HEALTH_MEASURED, forged)

        failed = await eventually(
            lambda: _task_failures(encrypted.client, wid),
            bool,
            what="the worker to refuse the plaintext signal",
        )
        # The failure itself is stored encrypted; with the key it says why.
        error = await encrypted.client.data_converter.decode_failure(failed[0])
        assert "not encrypted" in str(error)
        assert "WAYPOST_PAYLOAD_KEY" in str(error)
        assert failed[0].message == "Encoded failure"
        # Its history holds a signal no worker can decode, so it cannot be ended by an update.
        await encrypted.client.get_workflow_handle(wid).terminate("poisoned by the test")


async def _task_failures(client: Client, workflow_id: str) -> list[Failure]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [
        e.workflow_task_failed_event_attributes.failure
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]


async def test_failure_messages_are_stored_encrypted(
    encrypted: Encrypted,
    pool: asyncpg.Pool,
    task_queue: str,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    # A delivery error that quotes the message it could not queue (as real errors do).
    @activity.defn(name="queue_message")
    async def refuse_message(message: OutboxMessage) -> bool:
        raise ApplicationError(
            f"mail relay refused: {message.subject} / {message.body}",
            type="InvalidTask",
            non_retryable=True,
        )

    account = _account(make_account)
    contact = account.contacts[0].contact_id
    play_id = new_stakeholder_play(account)
    async with build_worker(
        encrypted.client, pool, task_queue, replace={"queue_message": refuse_message}
    ):
        await journeys.start(account, day_seconds=5.0, client=encrypted.client)
        await send_event(
            encrypted.client, account.account_id, names.KEY_CONTACT_CHANGED, contact_left(contact)
        )
        await eventually(
            lambda: _statuses(encrypted.client, play_id),
            lambda seen: WorkflowExecutionStatus.FAILED in seen,
            what="the play to fail on its first message",
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await encrypted.client.get_workflow_handle(play_id).result()
        # With the key the whole story is there...
        chain = []
        cause: BaseException | None = failed.value
        while cause is not None:
            chain.append(str(cause))
            cause = cause.__cause__
        assert any(ACCOUNT_NAME in text for text in chain), chain

        # ...and the server's copy of it has no name in it.
        stored = await _stored(encrypted.plain, play_id)
        assert _leaks(stored) == []
        assert b"Encoded failure" in stored


async def _statuses(client: Client, workflow_id: str) -> list[WorkflowExecutionStatus | None]:
    return [w.status async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
