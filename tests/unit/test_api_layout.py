"""The web stays out of the worker: FastAPI, uvicorn and the dev-server launcher load only
in the API and the CLI, never in `python worker.py`."""

from __future__ import annotations

import subprocess
import sys

WEB_AND_DEV = ("fastapi", "starlette", "uvicorn", "devtools")


def test_the_worker_loads_nothing_of_the_web_or_the_dev_servers() -> None:
    code = (
        "import sys, worker; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {WEB_AND_DEV!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
