"""`waypost policy check FILE` and `waypost policy schema`.

`check` is what a CS-ops person runs before shipping a policy: every problem at once as
`path.to.field: what is wrong` (exit 2), or a one-screen summary of what the policy will do.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Annotated, Any

import typer

from workflows.policy import (
    AdoptionMet,
    AdoptionRiskTrigger,
    Condition,
    EventDrivenExpectation,
    HealthChangedTrigger,
    HealthIs,
    KeyContactChangedTrigger,
    MilestoneOverdueTrigger,
    MilestonesComplete,
    Play,
    Policy,
    PolicyError,
    RenewalDueTrigger,
    Trigger,
    When,
    load_policy,
)

policy_app = typer.Typer(no_args_is_help=True, help="Check policy files; print their schema.")

INVALID = 2  # the exit code for a policy that cannot be used, like a usage error
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@policy_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="The policy YAML file.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Validate a policy file and summarise it, or list every error in it (exit code 2)."""
    try:
        policy = load_policy(file)
    except PolicyError as e:
        if as_json:
            issues = [{"path": i.path, "message": i.message, "line": i.line} for i in e.issues]
            typer.echo(json.dumps({"valid": False, "file": str(file), "errors": issues}, indent=2))
        else:
            n = len(e.issues)
            typer.echo(typer.style(f"{file}: {n} error{'s' * (n != 1)}", fg="red", bold=True))
            for issue in e.issues:
                where = f"  (line {issue.line})" if issue.line is not None else ""
                typer.echo(f"  {issue}{typer.style(where, dim=True)}")
        raise typer.Exit(INVALID) from None
    if as_json:
        typer.echo(json.dumps({"valid": True, "file": str(file), **summary(policy)}, indent=2))
    else:
        typer.echo("\n".join(summary_lines(policy, file)))


@policy_app.command("schema")
def schema() -> None:
    """Print the policy file's JSON Schema, for editor completion and checking."""
    document: dict[str, Any] = {"$schema": JSON_SCHEMA_DIALECT, **Policy.model_json_schema()}
    typer.echo(json.dumps(document, indent=2))


# ---- the summary ------------------------------------------------------------------------------


def summary(policy: Policy) -> dict[str, Any]:
    """What `check` shows, as data."""
    return {
        "name": policy.name,
        "version": policy.version,
        "tracks": [
            {
                "key": t.key,
                "touch": t.touch,
                "when": describe_when(t.when),
                "milestones": [m.key for m in t.milestones],
                "rollout_stages": [s.key for s in t.rollout_stages],
            }
            for t in policy.onboarding.tracks
        ],
        "personas": {p: describe_expectation(e) for p, e in policy.adoption.personas.items()},
        "stages": [s.key for s in policy.maturity.stages],
        "recurring": {r.key: r.every_days for r in policy.maturity.recurring},
        "plays": {p.key: describe_trigger(p.trigger) for p in policy.plays},
    }


def summary_lines(policy: Policy, file: Path) -> list[str]:
    ok = typer.style("✓", fg="green", bold=True)
    lines = [f"{ok} {file}: policy '{policy.name}' version {policy.version} is valid"]
    if policy.description:
        lines.append(
            textwrap.fill(policy.description, width=96, initial_indent="  ", subsequent_indent="  ")
        )

    def section(title: str, rows: list[tuple[str, str]]) -> None:
        lines.append("")
        lines.append(typer.style(title, bold=True))
        width = max((len(k) for k, _ in rows), default=0)
        lines.extend(f"  {k.ljust(width)}  {v}" for k, v in rows)

    section(
        "Tracks (first match wins)",
        [
            (
                t.key,
                f"{t.touch:<4}  {describe_when(t.when)}: {len(t.milestones)} milestones"
                + (f", {len(t.rollout_stages)} rollout stages" if t.rollout_stages else ""),
            )
            for t in policy.onboarding.tracks
        ],
    )
    expectations = policy.adoption.personas
    section(
        f"Personas (checked every {_days(policy.adoption.check_every_days)})",
        [(p, describe_expectation(e)) for p, e in expectations.items()]
        or [("(none)", "no usage expectations")],
    )
    stages = ", ".join(
        f"{s.key} < {_days(s.until_days)}" if s.until_days is not None else s.key
        for s in policy.maturity.stages
    )
    section(
        "Maturity",
        [("stages", stages)]
        + [(r.key, f"every {_days(r.every_days)} ({r.owner})") for r in policy.maturity.recurring],
    )
    t = policy.health.thresholds
    section(
        "Health",
        [
            ("measures", ", ".join(f"{m.key} {m.weight:g}" for m in policy.health.measures)),
            (
                "colours",
                f"green >= {t.green:g}, yellow >= {t.yellow:g}, red below; "
                f"hysteresis {t.hysteresis:g} points",
            ),
        ],
    )
    section(
        "Plays",
        [(p.key, describe_play(p)) for p in policy.plays] or [("(none)", "no plays")],
    )
    return lines


def _days(days: float) -> str:
    return f"{days:g} day{'s' * (days != 1)}"


def describe_when(when: When) -> str:
    parts: list[str] = []
    if when.segment is not None:
        parts.append(f"segment {' or '.join(when.segment)}")
    if when.tier is not None:
        parts.append(f"tier {' or '.join(when.tier)}")
    if when.add_ons_any is not None:
        parts.append(f"add-on {' or '.join(when.add_ons_any)}")
    if when.min_seats is not None:
        parts.append(f"{when.min_seats}+ seats")
    return " and ".join(parts) if parts else "every account (fallback)"


def describe_expectation(expectation: Any) -> str:
    if isinstance(expectation, EventDrivenExpectation):
        return (
            f"event_driven: active within {_days(expectation.within_days_of_incident)} of each "
            "incident"
        )
    n = expectation.min_active_days_per_week
    return f"steady: {n:g} active day{'s' * (n != 1)} a week"


def describe_trigger(trigger: Trigger) -> str:
    if isinstance(trigger, HealthChangedTrigger):
        return f"health_changed {trigger.from_ or 'any'} → {trigger.to or 'any'}"
    if isinstance(trigger, RenewalDueTrigger):
        return f"renewal_due {_days(trigger.days_before)} before"
    only: list[str] | None = None
    if isinstance(trigger, KeyContactChangedTrigger | AdoptionRiskTrigger):
        only = list(trigger.personas) if trigger.personas else None
    elif isinstance(trigger, MilestoneOverdueTrigger):
        only = trigger.milestones
    return f"{trigger.kind} ({', '.join(only)})" if only else trigger.kind


def describe_play(play: Play) -> str:
    details = [describe_trigger(play.trigger), f"{len(play.steps)} steps"]
    if play.cooldown_days:
        scope = "" if play.cooldown_per == "cause" else " (per play)"
        details.append(f"cooldown {_days(play.cooldown_days)}{scope}")
    if play.reentry == "once_per_cause":
        details.append("once per cause")
    if play.exit_when is not None:
        details.append(f"exits when {describe_condition(play.exit_when)}")
    return ", ".join(details)


def describe_condition(condition: Condition) -> str:
    if isinstance(condition, HealthIs):
        return f"health is {' or '.join(condition.colours)}"
    if isinstance(condition, MilestonesComplete):
        return f"{', '.join(condition.milestones)} complete"
    if isinstance(condition, AdoptionMet):
        return f"adoption met for {', '.join(condition.personas)}"
    return f"{', '.join(condition.steps)} done"
