"""The workflow sandbox, set up for speed without giving up determinism.

Workers and the replayer run workflows in Temporal's sandbox, which re-imports workflow
modules for every workflow run. Two things keep that cheap: pure modules passed through
(imported once, outside the sandbox) and workflow modules compiled ahead.
"""

from __future__ import annotations

import compileall
from collections.abc import Sequence
from pathlib import Path

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions


def sandbox_runner(passthrough: Sequence[str]) -> SandboxedWorkflowRunner:
    """The sandbox, with `passthrough` (pure, deterministic modules) loaded once outside it."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*passthrough)
    )


def ensure_bytecode(folder: Path) -> bool:
    """Compile the modules under `folder` ahead: with no bytecode cache (PYTHONDONTWRITEBYTECODE,
    as in many images and CI set-ups) each sandbox re-import compiles them from source, about
    40% of a busy worker's CPU in `make bench`. False if they could not be written (a
    read-only tree: compile at build, as the Dockerfile does)."""
    return bool(compileall.compile_dir(folder, quiet=2))
