"""Migrations are applied once and are safe to run again."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from store import db

pytestmark = pytest.mark.integration


async def test_migrate_twice_changes_nothing(database_url: str) -> None:
    # The session fixture has migrated already; a second run finds nothing to do.
    assert await db.migrate(database_url) == []
    conn = await asyncpg.connect(database_url)
    try:
        applied = await conn.fetch("SELECT name FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [r["name"] for r in applied] == [m.name for m in db.load_migrations()]


def test_badly_named_migration_is_refused_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "add tasks.sql").write_text("SELECT 1")
    with pytest.raises(ValueError, match=r"NNN_snake_case\.sql"):
        db.load_migrations(tmp_path)
