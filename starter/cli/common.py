"""What every command shares: the consoles, settings, error printing, a Temporal session and a
Postgres pool, and reading the files a command is given."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import asyncpg
import typer
from pydantic import ValidationError
from rich.console import Console
from temporalio.client import Client

from devtools.infra import DevInfra, ensure_infra
from runtime.errors import SetupError
from runtime.logs import configure_logging
from runtime.settings import Settings
from runtime.temporal import connect
from starter.journeys import JourneyError
from workflows.models import Account
from workflows.policy import Policy, PolicyError, load_policy

# Piped output still gets room for a table; rich would otherwise wrap at 80 columns.
out = Console(width=None if Console().is_terminal else 120)
err = Console(stderr=True)
T = TypeVar("T")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def settings() -> Settings:
    built = Settings()
    configure_logging(built.log_format, built.log_level)
    return built


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; the errors a user can fix are printed, not traced."""
    try:
        return asyncio.run(coro)
    except JourneyError as e:
        err.print(f"[red]error[/red] ({e.kind}): {e}")
        raise typer.Exit(1) from None
    except SetupError as e:
        err.print(f"[red]error[/red]: {e}")
        raise typer.Exit(1) from None


@dataclass
class Ctx:
    settings: Settings
    infra: DevInfra
    client: Client


@asynccontextmanager
async def session(settings: Settings, *, start_infra: bool = False) -> AsyncIterator[Ctx]:
    infra = ensure_infra(settings, start=start_infra)
    client = await connect(infra.temporal_address, settings.namespace)
    yield Ctx(settings, infra, client)


@asynccontextmanager
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    infra = ensure_infra(settings, start=False)
    async with asyncpg.create_pool(infra.database_url, min_size=1, max_size=2) as opened:
        yield opened


def refuse(what: str, path: Path, errors: Iterable[str]) -> NoReturn:
    """Say why a file cannot be used, one problem a line, and exit 2."""
    err.print(f"[red]invalid {what}[/red] {path}:")
    for line in errors:
        err.print(f"  {line}")
    raise typer.Exit(2) from None


def read_policy(path: Path) -> Policy:
    try:
        return load_policy(path)
    except PolicyError as e:
        refuse("policy", path, e.errors)


def read_account(path: Path) -> Account:
    try:
        return Account.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        err.print(f"[red]error[/red]: no such file: {path}")
        raise typer.Exit(2) from None
    except ValidationError as e:
        err.print(f"[red]invalid account[/red] {path}:")
        for line in validation_lines(e):
            err.print(f"  {line}")
        raise typer.Exit(2) from None


def validation_lines(e: ValidationError) -> list[str]:
    """pydantic errors as `path.to.field: what is wrong`."""
    return [
        f"{'.'.join(str(p) for p in item['loc']) or '(root)'}: {item['msg']}" for item in e.errors()
    ]
