"""Every setting Waypost reads, in one place.

Built in each entry point's `main()`, never at import: workflow modules must not read the
environment (the sandbox re-imports them), and tests build their own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from workflows.clock import DAY_SECONDS

TASK_QUEUE = "waypost"


class Settings(BaseSettings):
    # env_ignore_empty: compose passes optional settings as `${VAR:-}`, and an empty value
    # must mean "unset", not "a secret that is the empty string".
    model_config = SettingsConfigDict(env_prefix="WAYPOST_", extra="ignore", env_ignore_empty=True)

    temporal_address: str | None = Field(
        default=None,
        description="host:port of a Temporal frontend; unset means the embedded dev server.",
    )
    namespace: str = "default"
    task_queue: str = TASK_QUEUE
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "WAYPOST_DATABASE_URL"),
        description="Postgres DSN; unset means the embedded Postgres.",
    )
    state_dir: Path = Field(
        default=Path(".waypost"),
        description="Where the embedded servers keep their data and pid files.",
    )
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    policy_file: Path = Path("policies/default.yaml")
    day_seconds: float = Field(default=DAY_SECONDS, gt=0, description="Length of a journey day.")
    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")
    log_level: str = "info"
    notify_webhook_url: str | None = Field(
        default=None, description="Where the outbox relay POSTs messages; unset logs them."
    )
    api_token: str | None = None
    webhook_secret: str | None = None
    webhook_secret_previous: str | None = Field(
        default=None, description="The webhook secret being rotated out, still accepted."
    )
    public_base_url: str | None = Field(
        default=None, description="The API's external URL behind a proxy (HubSpot signs it)."
    )
    hubspot_client_secret: str | None = Field(
        default=None, validation_alias=AliasChoices("HUBSPOT_CLIENT_SECRET")
    )

    # ---- customer data privacy (runtime/codec.py) ----
    payload_key: SecretStr | None = Field(
        default=None,
        description="32 random bytes, base64: encrypts every payload sent to Temporal.",
    )
    payload_key_previous: SecretStr | None = Field(
        default=None, description="The payload key being rotated out: still decrypts."
    )
    payload_accept_plaintext: bool = Field(
        default=False,
        description="While turning encryption on for journeys already running: still read "
        "payloads written before the key was set. Off again once they have continued as new.",
    )
    temporal_ui_url: str | None = Field(
        default=None,
        description="The Temporal UI's URL as browsers see it: the one origin the codec "
        "server answers (default: the embedded UI's).",
    )

    # ---- operations: metrics and worker tuning (worker.py) ----
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Worker Prometheus port; unset: no metrics."
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Interface for the worker's metrics (0.0.0.0 in a container).",
    )
    max_concurrent_workflow_tasks: int = Field(
        default=100, ge=2, description="Workflow tasks one worker runs at once."
    )
    max_cached_workflows: int = Field(
        default=1000,
        ge=0,
        description="Journeys kept in memory between tasks (sticky); more saves replays.",
    )
    max_concurrent_activities: int = Field(
        default=100, ge=1, description="Activity slots: database writes one worker runs at once."
    )
    graceful_shutdown_seconds: float = Field(
        default=30.0,
        ge=0,
        description="On SIGTERM, how long in-flight activities may take to finish.",
    )

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.temporal_ui_port}"
