"""Contracts from a CSV: read and checked in one go, then each account's journey started.

`waypost start` uses it; the portfolio (`starter.portfolio`) is what those journeys look like
once they run.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client

from starter.journeys import Started, start_journey
from workflows.models import Account
from workflows.policy import Policy


class ContractsError(ValueError):
    """The CSV cannot be used; `errors` says where, one `line N, field: problem` each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the contracts file")
        self.errors = errors


_REQUIRED = [name for name, field in Account.model_fields.items() if field.is_required()]


def read_contracts(text: str) -> list[Account]:
    """Accounts from a CSV whose columns are Account's fields.

    `add_ons` is a JSON list or `;`-separated; `contacts` (optional) a JSON array of contacts.
    Every problem is collected, so a file is fixed in one go, not one error at a time.
    """
    reader = csv.DictReader(io.StringIO(text), restkey="(extra cells)")
    header = [h.strip() for h in reader.fieldnames or []]
    errors = [f"header: missing column '{c}'" for c in _REQUIRED if c not in header]
    errors += [
        f"header: unknown column '{c}' (known: {', '.join(Account.model_fields)})"
        for c in header
        if c not in Account.model_fields
    ]
    if errors:
        raise ContractsError(errors)
    accounts: list[Account] = []
    seen: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        account = _read_row(raw, line)
        if isinstance(account, list):
            errors += account
        elif account.account_id in seen:
            errors.append(
                f"line {line}: account_id '{account.account_id}' is already on line "
                f"{seen[account.account_id]}"
            )
        else:
            seen[account.account_id] = line
            accounts.append(account)
    if errors:
        raise ContractsError(errors)
    if not accounts:
        raise ContractsError(["the file has a header but no contracts"])
    return accounts


def _read_row(raw: dict[str, Any], line: int) -> Account | list[str]:
    """One row's account, or every problem in it."""
    if "(extra cells)" in raw:
        return [f"line {line}: more cells than columns"]
    data: dict[str, Any] = {
        k.strip(): v.strip() for k, v in raw.items() if v is not None and v.strip()
    }
    try:
        if "add_ons" in data:
            data["add_ons"] = _list_cell(data["add_ons"])
        if "contacts" in data:
            data["contacts"] = json.loads(data["contacts"])
    except json.JSONDecodeError as err:
        return [f"line {line}: a JSON cell is not JSON ({err.msg})"]
    try:
        return Account.model_validate(data)
    except ValidationError as err:
        return [
            f"line {line}, {'.'.join(str(p) for p in e['loc']) or '(row)'}: {e['msg']}"
            for e in err.errors(include_url=False)
        ]


def load_contracts(path: Path) -> list[Account]:
    """`read_contracts` on a file (a spreadsheet's UTF-8 byte-order mark is fine)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ContractsError([f"{path}: {err}"]) from None
    return read_contracts(text)


def _list_cell(cell: str) -> list[str]:
    if cell.startswith("["):
        values = json.loads(cell)
        return [str(v) for v in values] if isinstance(values, list) else [str(values)]
    return [part.strip() for part in cell.split(";") if part.strip()]


async def start_contracts(
    client: Client,
    accounts: list[Account],
    policy: Policy,
    *,
    task_queue: str,
    day_seconds: float,
    concurrency: int = 8,
    on_started: Callable[[Started], None] | None = None,
) -> list[Started]:
    """Start (or find) each account's journey, a few at a time; results in file order.

    `start_journey` is idempotent per account, so running the same file again starts none
    twice: it reports those as already running.
    """
    gate = asyncio.Semaphore(concurrency)

    async def one(account: Account) -> Started:
        async with gate:
            started = await start_journey(
                client, account, policy, task_queue=task_queue, day_seconds=day_seconds
            )
        if on_started is not None:
            on_started(started)
        return started

    return list(await asyncio.gather(*(one(a) for a in accounts)))
