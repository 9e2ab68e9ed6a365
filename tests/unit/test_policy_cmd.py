"""`waypost policy check` and `waypost policy schema`, mounted as the real CLI mounts them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from starter.cli.policy import policy_app
from workflows.policy import PolicyError, load_policy

POLICIES = Path(__file__).resolve().parents[2] / "policies"
BROKEN = POLICIES / "examples" / "broken.yaml"

app = typer.Typer()
app.add_typer(policy_app, name="policy")
runner = CliRunner()


@pytest.mark.parametrize("name", ["default.yaml", "risk-management.yaml", "health-and-safety.yaml"])
def test_check_passes_the_shipped_policies_with_a_summary(name: str) -> None:
    result = runner.invoke(app, ["policy", "check", str(POLICIES / name)])
    assert result.exit_code == 0, result.output
    policy = load_policy(POLICIES / name)
    assert f"policy '{policy.name}' version {policy.version} is valid" in result.output
    for heading in ("Tracks (first match wins)", "Personas", "Maturity", "Health", "Plays"):
        assert heading in result.output
    for key in [t.key for t in policy.onboarding.tracks] + [p.key for p in policy.plays]:
        assert f"  {key}  " in result.output
    assert len(result.output.splitlines()) <= 50  # one screen


def test_the_summary_reads_like_the_policy() -> None:
    result = runner.invoke(app, ["policy", "check", str(POLICIES / "risk-management.yaml")])
    assert "end_user           event_driven: active within 2 days of each incident" in (
        result.output
    )
    assert "self_serve          tech  every account (fallback): 3 milestones" in result.output
    assert "health_changed green → yellow" in result.output


def test_check_refuses_the_broken_policy_naming_every_error() -> None:
    result = runner.invoke(app, ["policy", "check", str(BROKEN)])
    assert result.exit_code == 2
    with pytest.raises(PolicyError) as caught:
        load_policy(BROKEN)
    assert f"{BROKEN}: {len(caught.value.errors)} errors" in result.output
    for error in caught.value.errors:
        assert f"  {error}" in result.output
    assert "onboarding.tracks: no fallback track" in result.output
    assert "(line 23)" in result.output


def test_check_json_lists_errors_as_data() -> None:
    result = runner.invoke(app, ["policy", "check", "--json", str(BROKEN)])
    assert result.exit_code == 2
    report = json.loads(result.output)
    assert report["valid"] is False
    first = report["errors"][0]
    assert first == {
        "path": "name",
        "message": "'Broken Policy' is not a valid name: use lowercase letters, digits, - and _",
        "line": 5,
    }


def test_check_json_summarises_a_valid_policy() -> None:
    result = runner.invoke(app, ["policy", "check", "--json", str(POLICIES / "default.yaml")])
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["valid"] is True and report["name"] == "default"
    assert report["tracks"][-1]["when"] == "every account (fallback)"
    assert report["recurring"]["stakeholder_review"] == 1095
    assert report["plays"]["renewal_prep"] == "renewal_due 90 days before"


def test_check_a_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["policy", "check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "file: cannot read" in result.output


def test_check_a_yaml_syntax_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: [1\n")
    result = runner.invoke(app, ["policy", "check", str(bad)])
    assert result.exit_code == 2
    assert "line 3, column 1:" in result.output


def test_schema_is_json_schema_for_the_policy_file() -> None:
    result = runner.invoke(app, ["policy", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Policy"
    assert {"name", "version", "onboarding", "adoption", "maturity", "health", "plays"} <= set(
        schema["properties"]
    )
    assert schema["additionalProperties"] is False  # typos are errors in editors too
    trigger = schema["$defs"]["Play"]["properties"]["trigger"]
    assert set(trigger["discriminator"]["mapping"]) == {
        "health_changed",
        "key_contact_changed",
        "adoption_risk",
        "support_escalated",
        "renewal_due",
        "milestone_overdue",
    }
    assert "from" in schema["$defs"]["HealthChangedTrigger"]["properties"]


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(app, ["policy"])
    assert "check" in result.output and "schema" in result.output
