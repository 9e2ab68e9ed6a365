"""CPU and memory of the processes a run drives, read with psutil (untyped, so loaded as Any):
where each item's CPU went, and how much the rest of the machine took meanwhile."""

from __future__ import annotations

import importlib
import os
import time
from dataclasses import dataclass, field
from typing import Any

from devtools.infra import EmbeddedPostgres

_psutil: Any = importlib.import_module("psutil")


def rss_bytes(pid: int) -> int:
    return int(_psutil.Process(pid).memory_info().rss)


def _cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU seconds of a process (and its children), 0 if it is gone."""
    try:
        procs = [_psutil.Process(pid)]
        if children:
            procs += procs[0].children(recursive=True)
        total = 0.0
        for p in procs:
            try:
                times = p.cpu_times()
                total += times.user + times.system
            except _psutil.Error:
                continue
        return total
    except _psutil.Error:
        return 0.0


def _machine_busy_seconds() -> float:
    times = _psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


@dataclass
class CpuMeter:
    """CPU seconds each process spent during a phase, and the whole machine's.

    "others" is what the machine spent beyond the processes named: on a shared machine, the
    load this run competed with.
    """

    pids: dict[str, tuple[int, bool]]  # name -> (pid, include children)
    start: dict[str, float] = field(default_factory=dict)
    machine_start: float = 0.0
    t0: float = 0.0

    def __post_init__(self) -> None:
        self.start = {n: _cpu_seconds(p, children=c) for n, (p, c) in self.pids.items()}
        self.machine_start = _machine_busy_seconds()
        self.t0 = time.monotonic()

    def ms_per_item(self, items: int) -> dict[str, float]:
        spent = {n: _cpu_seconds(p, children=c) - self.start[n] for n, (p, c) in self.pids.items()}
        spent["others"] = max(
            0.0, _machine_busy_seconds() - self.machine_start - sum(spent.values())
        )
        out = {n: round(1000 * s / max(1, items), 2) for n, s in spent.items()}
        capacity = max(1e-9, time.monotonic() - self.t0) * (os.cpu_count() or 1)
        out["machine_busy_percent"] = round(
            100 * (_machine_busy_seconds() - self.machine_start) / capacity, 1
        )
        out["others_percent"] = round(100 * spent["others"] / capacity, 1)
        return out


def postmaster_pid(postgres: EmbeddedPostgres | None) -> int | None:
    if postgres is None:
        return None
    pid_file = postgres.pgdata / "postmaster.pid"
    try:
        return int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
