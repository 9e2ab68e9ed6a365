"""The run's verdicts (targets met or missed), its closing notes, and its table.

`python -m bench.report [results.json]` prints the table again, as Markdown for the README.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.models import BenchResult, MemoryResult, ProfileSummary, Target

GIB_MIB = 1024.0
TEN_THOUSAND = 10_000

# Which profiled phase tells why a measure missed its target.
PHASE_OF = {
    "start throughput": "start",
    "event throughput": "events",
    "reaction latency": "events",
    "events per run": "history",
    "actions per customer-year": "history",
    "RSS, 10,000 open journeys": "resume",
}


def targets(result: BenchResult) -> list[Target]:
    out: list[Target] = []
    if result.start:
        r = result.start.ratio
        out.append(
            Target(measure="start throughput", goal="ratio ≥ 0.8", value=f"{r:.2f}", met=r >= 0.8)
        )
    if result.events:
        r = result.events.ratio
        out.append(
            Target(measure="event throughput", goal="ratio ≥ 0.8", value=f"{r:.2f}", met=r >= 0.8)
        )
    if result.reaction:
        p99 = result.reaction.waypost.p99
        out.append(
            Target(measure="reaction latency", goal="p99 < 1 s", value=f"{p99:.3f} s", met=p99 < 1)
        )
    if result.history:
        h = result.history
        out.append(
            Target(
                measure="events per run",
                goal="no run over 10,000",
                value=f"max {h.max_events_per_run:,}",
                met=h.max_events_per_run <= TEN_THOUSAND,
            )
        )
        out.append(
            Target(
                measure="actions per customer-year",
                goal="≤ 150",
                value=f"{h.actions_per_customer_year:g}",
                met=h.actions_per_customer_year <= 150,
            )
        )
    if result.memory and result.memory.points:
        m = result.memory
        largest = m.points[-1]
        if largest.open_journeys >= TEN_THOUSAND:
            rss, how = largest.rss_mib, "measured"
        else:
            rss = projected_rss(m)
            how = f"projected from {largest.open_journeys:,}"
        out.append(
            Target(
                measure="RSS, 10,000 open journeys",
                goal="< 1 GiB",
                value=f"{rss:,.0f} MiB ({how})",
                met=rss < GIB_MIB,
            )
        )
    return out


def projected_rss(m: MemoryResult, open_journeys: int = TEN_THOUSAND) -> float:
    """RSS at `open_journeys`, from the slope of the last two measured points (past the
    worker's workflow cache that slope is what each further journey costs), or from the
    warm-up reading and the largest point when only one was measured."""
    points = m.points
    last = points[-1]
    if len(points) >= 2:
        before = points[-2]
        slope = (last.rss_mib - before.rss_mib) / (last.open_journeys - before.open_journeys)
    else:
        slope = last.per_journey_kib / 1024
    return last.rss_mib + max(0.0, slope) * (open_journeys - last.open_journeys)


def _profile_for(profiles: Sequence[ProfileSummary], phase: str) -> list[ProfileSummary]:
    return [p for p in profiles if p.phase == phase]


def notes(result: BenchResult) -> list[str]:
    """Closing notes: the machine, and for each missed target what the profile shows."""
    out = []
    if result.machine.shared:
        out.append(
            "Measured on a shared machine (other work was running): absolute numbers are noisy; "
            "ratios against the floor measured minutes apart in the same run are the reliable part."
        )
    if not result.machine.bytecode_cache:
        out.append(
            "Workers ran without compiled bytecode (PYTHONDONTWRITEBYTECODE is set and nothing "
            "was compiled): the workflow sandbox re-imports workflows/journey/ for every "
            "workflow run and so compiles it from source each time. `python -m compileall "
            "workflows activities` before starting workers removes that cost."
        )
    if (h := result.history) and h.journey_years_lived > h.years * 1.05:
        out.append(
            f"The worker fell behind the compressed clock in (4): the journeys lived "
            f"{h.journey_years_lived:g} journey-years for {h.years} scripted, so branches caught "
            "up without timers and timers are under-counted; a larger --history-day-seconds "
            "(or fewer --history-customers) keeps it in step."
        )
    if result.memory and result.memory.sized_down:
        out.append(f"Open journeys sized down: {result.memory.sized_down}.")
    for target in result.targets:
        if target.met:
            continue
        phase = PHASE_OF.get(target.measure, "")
        line = f"{target.measure} missed its target ({target.value}; goal {target.goal})."
        why = _why(result, target.measure)
        if why:
            line += f" {why}"
        for p in _profile_for(result.profiles, phase):
            packages = ", ".join(f"{name} {share:g}%" for name, share in p.by_package[:5])
            hot = ", ".join(f"{name} {share:g}%" for name, share in p.waypost_inclusive[:4])
            line += (
                f" Profile of the {p.process} ({p.samples} samples): self time by package: "
                f"{packages}."
            )
            if hot:
                line += f" Waypost code on the stack: {hot}."
        out.append(line)
    return out


def _cpu_story(what: str, waypost: dict[str, float], floor: dict[str, float]) -> str:
    """Where the CPU of one item went, beside the floor's, largest difference first."""
    names = [n for n in waypost if not n.endswith("_percent") and n != "others"]
    ours = sum(waypost[n] for n in names)
    theirs = sum(floor.get(n, 0.0) for n in names)
    extra = sorted(names, key=lambda n: floor.get(n, 0.0) - waypost[n])
    parts = ", ".join(f"{n} +{waypost[n] - floor.get(n, 0.0):.1f}" for n in extra[:3])
    return (
        f"The machine was {waypost.get('machine_busy_percent', 0):g}% busy, so the rate follows "
        f"CPU per {what}: {ours:.1f} ms against {theirs:.1f} ms for the floor (ms more per "
        f"process: {parts})."
    )


def _why(result: BenchResult, measure: str) -> str:
    """The bottleneck, from the run's own numbers."""
    if measure == "start throughput" and (s := result.start):
        events, actions = s.waypost_history
        return (
            _cpu_story("journey", s.waypost_cpu_ms, s.baseline_cpu_ms)
            + f" A settled journey is {events:g} history events and {actions:g} actions, a "
            f"no-op {s.baseline_history[0]:g} and {s.baseline_history[1]:g}."
        )
    if measure == "event throughput" and (e := result.events):
        return _cpu_story("event", e.waypost_cpu_ms, e.baseline_cpu_ms)
    if measure == "reaction latency" and (r := result.reaction) and r.waypost_breakdown_ms:
        stages = sorted(r.waypost_breakdown_ms.items(), key=lambda kv: -kv[1])
        return "Mean ms per stage: " + ", ".join(f"{k} {v:g}" for k, v in stages) + "."
    if measure == "events per run" and (h := result.history):
        late = [
            f"{r.workflow_id} suggested at {r.continue_as_new_suggested_at}, ran to {r.events}"
            for r in h.largest_runs
            if r.continue_as_new_suggested_at
        ]
        return "Continue-as-new waited: " + "; ".join(late) + "." if late else ""
    if measure == "actions per customer-year" and (h := result.history):
        kinds = ", ".join(f"{k} {v:g}" for k, v in h.actions_by_kind_per_customer_year.items())
        skipped = h.adoption_timers_skipped_per_customer_year
        sent_in = h.external_actions_per_customer_year
        return (
            f"Per customer-year: {kinds} (plus {skipped:g} adoption-check timers compressed "
            f"time skipped); {sent_in:g} of them are what the CRM and CSMs send in."
        )
    if measure.startswith("RSS") and (m := result.memory) and m.points:
        first = m.points[0]
        floor = m.baseline_points[0].per_journey_kib if m.baseline_points else 0.0
        return (
            f"Each journey in the worker's cache costs {first.per_journey_kib:g} KiB (a waiting "
            f"no-op workflow {floor:g}); the cache holds {m.max_cached_workflows:,}."
        )
    return ""


def _met(met: bool | None) -> str:
    return "" if met is None else ("✔" if met else "✘")


def rows(result: BenchResult) -> list[tuple[str, str, str, str, str, str]]:
    """(measure, Waypost, floor, ratio, target, met) — the table, in one place for both forms."""
    verdict = {t.measure: t.met for t in result.targets}
    out: list[tuple[str, str, str, str, str, str]] = []
    if s := result.start:
        out.append(
            (
                f"(1) starts/s, {s.waypost.count:,} journeys",
                f"{s.waypost.per_second:g}",
                f"{s.baseline.per_second:g} no-op",
                f"{s.ratio:.2f}",
                "≥ 0.8",
                _met(verdict.get("start throughput")),
            )
        )
    if e := result.events:
        out.append(
            (
                f"(2) events/s, {e.waypost.count:,} via webhook",
                f"{e.waypost.per_second:g}",
                f"{e.baseline.per_second:g} signal()",
                f"{e.ratio:.2f}",
                "≥ 0.8",
                _met(verdict.get("event throughput")),
            )
        )
    if r := result.reaction:
        w, b = r.waypost, r.baseline
        out.append(
            (
                f"(3) webhook → play visible at {r.offered_per_second:g} events/s, p50/p95/p99 s",
                f"{w.p50:.3f} / {w.p95:.3f} / {w.p99:.3f}",
                f"{b.p50:.3f} / {b.p95:.3f} / {b.p99:.3f}",
                "",
                "p99 < 1 s",
                _met(verdict.get("reaction latency")),
            )
        )
        w, b = r.saturated_waypost, r.saturated_baseline
        out.append(
            (
                "(3) the same under (2)'s saturating load",
                f"{w.p50:.3f} / {w.p95:.3f} / {w.p99:.3f}",
                f"{b.p50:.3f} / {b.p95:.3f} / {b.p99:.3f}",
                "",
                "",
                "",
            )
        )
    if h := result.history:
        out.append(
            (
                f"(4) {h.years}-year journey: max events/run, runs",
                f"{h.max_events_per_run:,} / {h.max_runs_per_customer} runs",
                "",
                "",
                "≤ 10,000",
                _met(verdict.get("events per run")),
            )
        )
        out.append(
            (
                "(4) per customer-year: events / actions (sent in + Waypost's own)",
                f"{h.events_per_customer_year:g} / {h.actions_per_customer_year:g} "
                f"({h.external_actions_per_customer_year:g} + "
                f"{h.waypost_actions_per_customer_year:g})",
                "",
                "",
                "actions ≤ 150",
                _met(verdict.get("actions per customer-year")),
            )
        )
    if m := result.memory:
        for p in m.points:
            if p.open_journeys in (1000, m.points[-1].open_journeys):
                floor = next(
                    (
                        f"{b.per_journey_kib:g} KiB each"
                        for b in m.baseline_points
                        if b.open_journeys == p.open_journeys
                    ),
                    "",
                )
                cell = f"{p.rss_mib:,.0f} MiB ({p.per_journey_kib:g} KiB each)"
                if p is m.points[-1] and p.open_journeys < TEN_THOUSAND:
                    cell += f"; 10,000 → {projected_rss(m):,.0f} MiB projected"
                out.append(
                    (
                        f"(5) worker RSS, {p.open_journeys:,} open",
                        cell,
                        floor,
                        "",
                        "< 1 GiB at 10,000",
                        _met(verdict.get("RSS, 10,000 open journeys")) if p is m.points[-1] else "",
                    )
                )
        out.append(
            (
                f"(5) resume {m.resume.journeys:,} after a restart (all answered a query)",
                f"{m.resume.all_answered_seconds:g} s (polling after {m.resume.ready_seconds:g} s)",
                f"{m.baseline_resume.all_answered_seconds:g} s for {m.baseline_resume.journeys:,}",
                "",
                "",
                "",
            )
        )
    return out


HEADERS = ("measure", "Waypost", "floor (bare Temporal)", "ratio", "target", "met")


def table(result: BenchResult) -> Table:
    t = Table(*HEADERS, title=f"Waypost bench ({result.wall_seconds / 60:.1f} min)")
    for row in rows(result):
        t.add_row(*row)
    return t


def markdown(result: BenchResult) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + " --- |" * len(HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(result)]
    return "\n".join(lines)


def show(result: BenchResult, console: Console) -> None:
    console.print(table(result))
    for note in result.notes:
        console.print(f"• {note}")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0]) if args else Path(__file__).parent / "results" / "latest.json"
    result = BenchResult.model_validate_json(path.read_text())
    Console(width=200).print(markdown(result), markup=False, highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
