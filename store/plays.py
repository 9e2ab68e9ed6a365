"""`plays`: one row per play run, with the why-record that started it.

A play's start and end are each written with their timeline row in one transaction: one
activity, not two.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, Field

from activities.models import PlayFinished, PlayStarted
from store.timeline import insert_timeline


class PlayRecord(BaseModel):
    """A play run as the `plays` table keeps it: with its why-record."""

    play_id: str
    run_id: str
    play: str
    cause: str
    title: str
    why: str
    why_record: dict[str, Any]
    status: str
    outcome: str | None
    started_at: datetime = Field(description="Real time (the play's own clock).")
    ended_at: datetime | None


async def record_started(pool: asyncpg.Pool, play: PlayStarted) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO plays (play_id, run_id, account_id, play, cause, title, why,
                                  why_record, started_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
               ON CONFLICT (play_id, run_id) DO NOTHING""",
            play.play_id,
            play.run_id,
            play.account_id,
            play.play,
            play.cause,
            play.title,
            play.why,
            json.dumps(play.why_record),
            play.started_at,
        )
        if play.timeline is not None:
            await insert_timeline(conn, play.timeline)


async def record_finished(pool: asyncpg.Pool, end: PlayFinished) -> None:
    """Only the first end counts: a retry, or a late exit after completion, changes nothing."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """UPDATE plays SET status = $3, outcome = $4, ended_at = $5
                WHERE play_id = $1 AND run_id = $2 AND ended_at IS NULL""",
            end.play_id,
            end.run_id,
            end.status,
            end.outcome,
            end.ended_at,
        )
        if end.timeline is not None:
            await insert_timeline(conn, end.timeline)


async def fetch_plays(pool: asyncpg.Pool, account_id: str) -> list[PlayRecord]:
    """An account's play runs, oldest first."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT play_id, run_id, play, cause, title, why, why_record, status, outcome,
                      started_at, ended_at
                 FROM plays WHERE account_id = $1 ORDER BY started_at, play_id""",
            account_id,
        )
    return [
        PlayRecord.model_validate({**r, "why_record": json.loads(r["why_record"])}) for r in rows
    ]


async def runs_by_status(
    pool: asyncpg.Pool, account_ids: list[str], since: datetime
) -> list[tuple[str, str, int]]:
    """(play, status, runs) of the accounts' plays started since `since`."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT play, status, count(*) AS n FROM plays
                WHERE account_id = ANY($1) AND started_at >= $2
                GROUP BY play, status ORDER BY play, status""",
            account_ids,
            since,
        )
    return [(r["play"], r["status"], int(r["n"])) for r in rows]


async def first_whys(
    pool: asyncpg.Pool, account_ids: list[str], since: datetime
) -> list[tuple[str, str, str]]:
    """(play, account_id, why) of each play's first run since `since`, among the accounts."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT DISTINCT ON (play) play, account_id, why FROM plays
                WHERE account_id = ANY($1) AND started_at >= $2 ORDER BY play, started_at""",
            account_ids,
            since,
        )
    return [(r["play"], r["account_id"], r["why"]) for r in rows]
