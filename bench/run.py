"""`make bench` / `waypost bench`: run every measurement, write the JSON, print the table.

    python -m bench.run            # the full run (about 10-15 minutes on 2 cores)
    python -m bench.run --quick    # tiny sizes: checks the harness, measures nothing
    python -m bench.run --only start,events --start-journeys 2000

With `WAYPOST_TEMPORAL_ADDRESS` / `DATABASE_URL` set it uses those servers (a database of its
own is created on that Postgres and dropped after); otherwise it starts a fresh dev server
(in memory, headless) and an embedded Postgres, and stops them at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.baseline import waypost_worker_config
from bench.common import Bench, Steps
from bench.cpu import rss_bytes
from bench.events import Load, event_throughput
from bench.history import history_growth
from bench.memory import open_journey_memory
from bench.models import BenchResult, Machine, Sizes
from bench.procs import ROOT, Infra, temporal_version
from bench.profile import Profiler
from bench.report import notes, show, targets
from bench.scenarios import start_throughput
from runtime.logs import configure_logging
from runtime.temporal import connect
from worker import ensure_bytecode
from workflows.policy import load_policy

SCENARIOS = ("start", "events", "history", "memory")
RESULTS = Path(__file__).resolve().parent / "results"

FULL = {
    "start_journeys": 1000,
    "event_journeys": 200,
    "events": 4000,
    "event_concurrency": 32,
    "latency_samples": 100,
    "latency_seconds": 20.0,
    "history_customers": 1,
    "history_years": 10,
    "history_day_seconds": 0.015,
    "open_journeys": 10_000,
}
QUICK = {
    "start_journeys": 20,
    "event_journeys": 6,
    "events": 60,
    "event_concurrency": 8,
    "latency_samples": 4,
    "latency_seconds": 2.0,
    "history_customers": 1,
    "history_years": 1,
    "history_day_seconds": 0.01,
    "open_journeys": 24,
}


def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="waypost bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="Tiny sizes (the smoke test's).")
    p.add_argument(
        "--only", default=",".join(SCENARIOS), help="Comma list of " + ",".join(SCENARIOS)
    )
    for key, value in FULL.items():
        flag = f"--{key.replace('_', '-')}"
        help_text = f"default {value} (quick: {QUICK[key]})"
        p.add_argument(flag, type=type(value), default=None, help=help_text)
    p.add_argument(
        "--events-per-request",
        type=int,
        default=1,
        help="Events in one webhook request in (2); HubSpot batches up to 100.",
    )
    p.add_argument(
        "--quiet-day-seconds",
        type=float,
        default=3600.0,
        help="Day length for journeys whose timers must stay quiet.",
    )
    p.add_argument(
        "--budget-minutes",
        type=float,
        default=13.0,
        help="Wall-clock budget (15 minutes less a margin); open journeys are sized to fit.",
    )
    p.add_argument("--results-dir", type=Path, default=RESULTS)
    p.add_argument("--no-profile", action="store_true", help="Do not attach py-spy.")
    p.add_argument("--shared", action="store_true", help="Mark the machine as shared.")
    p.add_argument("--temporal-address", default=os.environ.get("WAYPOST_TEMPORAL_ADDRESS"))
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    p.add_argument("--namespace", default=os.environ.get("WAYPOST_NAMESPACE", "default"))
    args = p.parse_args(list(argv))
    base = QUICK if args.quick else FULL
    for key, value in base.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenario(s) {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    return args


def bytecode_cache() -> bool:
    """Can the workers load workflows/ from compiled bytecode? They compile it at start, as
    `python worker.py` does; this compiles it now and says whether that could be written."""
    return ensure_bytecode()


def machine(address: str | None, shared: bool) -> Machine:
    cpu = None
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            None,
        )
    load = [round(x, 2) for x in os.getloadavg()]
    cli = temporal_version()
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return Machine(
        cores=os.cpu_count() or 1,
        cpu=cpu,
        memory_gib=round(total / 2**30, 1),
        python=platform.python_version(),
        platform=platform.platform(),
        temporal_cli=cli if address is None else f"{cli} (server: {address})",
        temporalio=importlib.metadata.version("temporalio"),
        load_average_at_start=load,
        bytecode_cache=bytecode_cache(),
        shared=shared or load[0] >= 0.5,
    )


async def run(args: argparse.Namespace, console: Console) -> BenchResult:
    started, t0 = datetime.now(UTC), time.monotonic()
    deadline = t0 + args.budget_minutes * 60
    info = machine(args.temporal_address, args.shared)
    sizes = Sizes(
        start_journeys=args.start_journeys,
        event_journeys=args.event_journeys,
        events=args.events,
        event_concurrency=args.event_concurrency,
        latency_samples=args.latency_samples,
        latency_seconds=args.latency_seconds,
        history_customers=args.history_customers,
        history_years=args.history_years,
        history_day_seconds=args.history_day_seconds,
        open_journeys_target=args.open_journeys,
        quiet_day_seconds=args.quiet_day_seconds,
        budget_minutes=args.budget_minutes,
    )
    result = BenchResult(
        started_at=started,
        finished_at=started,
        wall_seconds=0,
        quick=args.quick,
        machine=info,
        sizes=sizes,
    )
    run_id = uuid.uuid4().hex[:6]
    results_dir: Path = args.results_dir
    log_dir = results_dir / "logs"
    profiler = Profiler(enabled=not args.no_profile, out_dir=results_dir / "profiles")
    if profiler.enabled and profiler.binary() is None:
        result.notes.append("py-spy not found: no profiles (pip install py-spy).")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with tempfile.TemporaryDirectory(prefix="waypost-bench-") as work:
        infra = await Infra.open(
            Path(work),
            log_dir,
            temporal_address=args.temporal_address,
            database_url=args.database_url,
            namespace=args.namespace,
        )
        try:
            client = await connect(infra.temporal_address, infra.namespace)
            await infra.ready(client)
            async with asyncpg.create_pool(infra.database_url, min_size=1, max_size=4) as pool:
                with Progress(*columns, console=console) as progress:
                    bench = Bench(
                        infra=infra,
                        client=client,
                        pool=pool,
                        policy=load_policy(ROOT / "policies" / "default.yaml"),
                        run_id=run_id,
                        results_dir=results_dir,
                        steps=Steps(progress),
                        profiler=profiler,
                        quiet_day_seconds=args.quiet_day_seconds,
                    )
                    await _scenarios(bench, args, result, deadline)
                result.profiles = bench.profiles
                result.notes += bench.notes
                if profiler.failed:
                    result.notes.append(
                        f"py-spy could not profile {len(profiler.failed)} phase(s) (see "
                        f"{profiler.failed[0]}): it needs ptrace, e.g. root, or on Linux "
                        "`sudo sysctl kernel.yama.ptrace_scope=0`; --no-profile skips it."
                    )
        finally:
            await infra.close()
    result.finished_at = datetime.now(UTC)
    result.wall_seconds = round(time.monotonic() - t0, 1)
    # Shared: other work took a tenth of the machine or more while we measured.
    others = [
        cpu.get("others_percent", 0.0)
        for part in (result.start, result.events)
        if part is not None
        for cpu in (part.waypost_cpu_ms, part.baseline_cpu_ms)
    ]
    result.machine.shared = result.machine.shared or max(others, default=0.0) >= 10
    result.targets = targets(result)
    if args.quick:
        result.notes.append("Quick run: sizes too small for the numbers to mean anything.")
    result.notes += notes(result)
    return result


async def _scenarios(
    bench: Bench, args: argparse.Namespace, result: BenchResult, deadline: float
) -> None:
    """Each scenario in turn; one that fails is recorded and the others still run."""

    async def start() -> None:
        result.start = await start_throughput(bench, args.start_journeys)

    async def events() -> None:
        load = Load(
            journeys=args.event_journeys,
            events=args.events,
            concurrency=args.event_concurrency,
            probes=args.latency_samples,
            latency_seconds=args.latency_seconds,
            per_request=args.events_per_request,
        )
        result.events, result.reaction = await event_throughput(bench, load)

    async def history() -> None:
        result.history = await history_growth(
            bench, args.history_customers, args.history_years, args.history_day_seconds
        )

    async def memory() -> None:
        config = waypost_worker_config(bench.client, bench.task_queue("config"))
        result.memory = await open_journey_memory(
            bench, args.open_journeys, deadline, int(config["max_cached_workflows"])
        )

    steps = {"start": start, "events": events, "history": history, "memory": memory}
    for name in SCENARIOS:
        if name not in args.only:
            continue
        try:
            await steps[name]()
        except Exception as err:  # one broken scenario must not cost the whole run
            logs = bench.infra.log_dir
            result.errors.append(f"{name}: {type(err).__name__}: {err} (logs: {logs})")
            bench.steps.console.print_exception(max_frames=8)


def main(argv: Sequence[str] | None = None) -> int:
    import sys

    args = parse(sys.argv[1:] if argv is None else argv)
    # Piped (make bench | tee), the table still gets room; rich would wrap at 80 columns.
    console = Console(width=None if Console().is_terminal else 150)
    configure_logging("console", "warning")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(run(args, console))
    out = args.results_dir / "latest.json"
    out.write_text(result.model_dump_json(indent=2) + "\n")
    show(result, console)
    if result.errors:
        console.print("[red]Scenarios that failed:[/red] " + "; ".join(result.errors))
        return 1
    console.print(
        f"\nWritten to {out} (the harness itself used {rss_bytes(os.getpid()) / 2**20:.0f} MiB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
