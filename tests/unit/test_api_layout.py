"""The API stays out of the worker: its metrics route, auth and FastAPI load only in the API."""

from __future__ import annotations

import subprocess
import sys


def test_the_worker_does_not_load_fastapi() -> None:
    code = "import sys, worker; print(sorted(m for m in sys.modules if m.startswith('fastapi')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
