"""The floor's worker: bench/floor.py's workflows with the SAME settings as Waypost's worker.

`build_worker`'s config is copied (only the task queue and the hosted workflows change), so a
ratio compares what Waypost does per journey with what Temporal itself costs on this machine.
"""

from __future__ import annotations

from typing import Any, cast

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from bench.floor import BenchNoop, BenchWaiter


def waypost_worker_config(client: Client, task_queue: str) -> dict[str, Any]:
    """The config `build_worker` gives Waypost's worker, as the worker process builds it.

    The Worker is only constructed, never run, on a queue of its own (a client refuses two
    workers on one queue): its config is what we want.
    """
    import worker as waypost_worker
    from runtime.settings import Settings

    extra: dict[str, Any] = {}
    tuning = getattr(waypost_worker, "WorkerTuning", None)
    if tuning is not None:  # settings-driven tuning (WAYPOST_MAX_*), when the worker has it
        extra["tuning"] = tuning.from_settings(Settings())
    # The pool is only stored by the activity classes; nothing here touches it.
    queue = f"{task_queue}-settings"
    built = waypost_worker.build_worker(client, cast(asyncpg.Pool, None), queue, **extra)
    return dict(built.config())


def build_baseline_worker(client: Client, task_queue: str) -> Worker:
    config = waypost_worker_config(client, task_queue)
    config.update(task_queue=task_queue, workflows=[BenchNoop, BenchWaiter], activities=[])
    return Worker(**config)
