"""What "Postgres did not answer" looks like to a caller, defined once.

Callers that can wait (the inbox relay) or say 503 (the API) catch `DB_ERRORS` around a
store call; anything else is a bug and should surface.
"""

from __future__ import annotations

import asyncpg

# Not annotated: mypy keeps the fixed tuple type, so callers can write `except (X, *DB_ERRORS)`.
DB_ERRORS = (
    # Anything the server answered with, connection failures included
    # (PostgresConnectionError, TooManyConnectionsError, CannotConnectNowError).
    asyncpg.PostgresError,
    # The client side of a lost connection: closed mid-query, pool closing, protocol errors.
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    # Postgres not listening (ConnectionRefusedError and friends) or not answering in time.
    OSError,
    TimeoutError,
)
