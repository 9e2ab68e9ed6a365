"""Every setting Waypost reads, in one place.

Built in each entry point's `main()`, never at import: workflow modules must not read the
environment (the sandbox re-imports them), and tests build their own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

TASK_QUEUE = "waypost"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WAYPOST_", extra="ignore")

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
    day_seconds: float = Field(default=86400.0, gt=0, description="Length of a journey day.")
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

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.temporal_ui_port}"
