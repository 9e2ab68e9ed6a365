"""`python -m bench.baseline_worker`: the floor's worker, in a process of its own like Waypost's.

Reads `WAYPOST_TEMPORAL_ADDRESS`, `WAYPOST_NAMESPACE` and `WAYPOST_TASK_QUEUE`; runs until
SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import signal

from bench.baseline import build_baseline_worker
from runtime.logs import configure_logging
from runtime.settings import Settings
from runtime.temporal import connect


async def run(settings: Settings) -> None:
    if not settings.temporal_address:
        raise SystemExit("set WAYPOST_TEMPORAL_ADDRESS")
    client = await connect(settings.temporal_address, settings.namespace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with build_baseline_worker(client, settings.task_queue):
        await stop.wait()


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
