"""docker-compose.yml, checked on paper (no Docker engine here): the services and what they
wait for, healthchecks, required secrets, and that every variable set for Waypost's own
services is one Waypost reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
WAYPOST = {name for name, svc in SERVICES.items() if "build" in svc}
SECRETS = (
    "POSTGRES_PASSWORD",
    "WAYPOST_API_TOKEN",
    "WAYPOST_WEBHOOK_SECRET",
    "WAYPOST_PAYLOAD_KEY",
)
REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>[^}]*)\}")


def settings_env_names() -> set[str]:
    """The environment variables `Settings` reads: `WAYPOST_<field>` or a field's aliases."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def _env(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    assert isinstance(env, dict), f"{service}: environment as a mapping, please"
    return {str(k): str(v) for k, v in env.items()}


def _depends(service: str) -> dict[str, str]:
    deps = SERVICES[service].get("depends_on", {})
    assert isinstance(deps, dict), f"{service}: depends_on must name conditions, not a list"
    return {name: spec["condition"] for name, spec in deps.items()}


def test_the_production_services_are_all_there() -> None:
    assert set(SERVICES) >= {
        "postgres",
        "temporal",
        "temporal-ui",
        "migrate",
        "worker",
        "api",
        "codec-server",
    }
    assert {"migrate", "worker", "api", "codec-server"} <= WAYPOST
    for name in WAYPOST:
        assert SERVICES[name]["build"] == "."
    assert (ROOT / "Dockerfile").is_file()


def test_images_are_pinned_and_temporal_runs_on_postgres() -> None:
    for name, svc in SERVICES.items():
        if name in WAYPOST:
            continue
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", f"{name}: pin {image} to a version"
    assert SERVICES["postgres"]["image"].startswith("postgres:16")
    assert SERVICES["temporal"]["image"].startswith("temporalio/auto-setup:1.")
    assert SERVICES["temporal-ui"]["image"].startswith("temporalio/ui:2.")
    temporal = _env("temporal")
    assert temporal["DB"] == "postgres12"
    assert temporal["POSTGRES_SEEDS"] == "postgres"


def test_healthchecks_where_others_wait() -> None:
    postgres = SERVICES["postgres"]["healthcheck"]["test"]
    assert "pg_isready" in " ".join(postgres)
    temporal = " ".join(SERVICES["temporal"]["healthcheck"]["test"])
    assert "temporal operator" in temporal and "temporal:7233" in temporal
    # Whatever a service waits on to be healthy has a healthcheck.
    for name in SERVICES:
        for dep, condition in _depends(name).items():
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{name} waits for {dep}'s health"
    for name in ("worker", "api"):
        assert "healthcheck" in SERVICES[name]


def test_everything_waits_for_what_it_needs() -> None:
    assert _depends("temporal") == {"postgres": "service_healthy"}
    assert _depends("temporal-ui") == {"temporal": "service_healthy"}
    assert _depends("migrate") == {"postgres": "service_healthy", "temporal": "service_healthy"}
    for name in ("worker", "api"):
        assert _depends(name) == {
            "postgres": "service_healthy",
            "temporal": "service_healthy",
            "migrate": "service_completed_successfully",
        }
    for name in SERVICES:
        assert set(_depends(name).values()) <= {
            "service_healthy",
            "service_completed_successfully",
        }


def test_migrate_is_one_shot_and_registers_search_attributes() -> None:
    migrate = SERVICES["migrate"]
    assert migrate["command"] == ["python", "worker.py", "--setup"]
    assert migrate["restart"] == "no"
    # auto-setup's own test attributes would crowd SQL visibility's per-type limits.
    assert _env("temporal")["SKIP_ADD_CUSTOM_SEARCH_ATTRIBUTES"] == "true"


def test_workers_scale_out() -> None:
    worker = SERVICES["worker"]
    assert worker["command"] == ["python", "worker.py"]
    assert worker["deploy"]["replicas"] >= 2
    # `--scale worker=N` fails on a fixed name or a host port.
    assert "container_name" not in worker
    assert "ports" not in worker
    grace = float(_env("worker")["WAYPOST_GRACEFUL_SHUTDOWN_SECONDS"])
    stop = worker["stop_grace_period"]
    assert stop.endswith("s") and float(stop[:-1]) > grace, "compose must wait out the grace"
    assert _env("worker")["WAYPOST_METRICS_PORT"] == "9464"
    assert "9464" in [str(p) for p in worker["expose"]]


def test_required_secrets_are_required_everywhere() -> None:
    references = list(REFERENCE.finditer(COMPOSE_TEXT))
    for secret in SECRETS:
        uses = [m for m in references if m["name"] == secret]
        assert uses, f"{secret} is never used"
        for use in uses:
            assert use["rest"].startswith(":?"), f"{use.group(0)} must fail when unset"
    for name in ("api", "codec-server"):
        assert _env(name)["WAYPOST_API_TOKEN"].startswith("${WAYPOST_API_TOKEN:?")
    for name in ("migrate", "worker", "api", "codec-server"):
        assert _env(name)["WAYPOST_PAYLOAD_KEY"].startswith("${WAYPOST_PAYLOAD_KEY:?")


@pytest.mark.parametrize("service", sorted(WAYPOST))
def test_every_variable_set_is_one_waypost_reads(service: str) -> None:
    unknown = set(_env(service)) - settings_env_names()
    assert not unknown, f"{service} sets {sorted(unknown)}, which no Waypost setting reads"


def test_the_ui_reaches_the_codec_server_and_the_codec_server_allows_the_ui() -> None:
    ui = _env("temporal-ui")
    codec_port = SERVICES["codec-server"]["ports"][0].split(":")[-1]
    assert ui["TEMPORAL_CODEC_ENDPOINT"].rstrip("}").endswith(f"localhost:{codec_port}")
    assert ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    ui_host_port = SERVICES["temporal-ui"]["ports"][0].split(":")[-2]
    origin = _env("codec-server")["WAYPOST_TEMPORAL_UI_URL"]
    assert origin.rstrip("}").endswith(f"http://localhost:{ui_host_port}")


def test_the_commands_exist() -> None:
    from starter.cli.main import app

    # Typer names a command after its function unless told otherwise.
    commands = {
        c.name or getattr(c.callback, "__name__", "").replace("_", "-")
        for c in app.registered_commands
    }
    for name in WAYPOST:
        command = SERVICES[name]["command"]
        if command[0] == "waypost":
            assert command[1] in commands, f"{name}: `waypost {command[1]}` is not a command"
        else:
            assert command[:2] == ["python", "worker.py"]
    assert (ROOT / "worker.py").is_file()


def test_the_image_holds_what_the_services_run() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for needed in ("workflows", "activities", "starter", "migrations", "policies", "worker.py"):
        assert re.search(rf"^COPY {re.escape(needed)}\b", dockerfile, re.M), needed
    assert "USER " in dockerfile, "the image must not run as root"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".waypost", "tests"} <= set(ignored)
