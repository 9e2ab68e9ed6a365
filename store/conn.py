"""What store functions take: a pooled or a plain asyncpg connection, interchangeably."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A statement that must share its caller's transaction takes one of these; a store function
# that is its own unit of work takes the pool and opens the transaction itself.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
