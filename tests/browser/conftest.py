"""Headless Chromium for the browser tests: Debian's `chromium`, driven by Playwright.

Playwright's own browser download is never used (`executable_path` points at the system
Chromium). A machine without Chromium gets it from apt when we are root; otherwise the test
fails and says how to install it: these tests never skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # root in a container: the sandbox needs user namespaces we may not have
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Nothing but the pages under test goes over the network.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def install_chromium() -> str:
    """apt-get install chromium (as root), or fail saying what to run."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            "Chromium is needed for the browser tests and is not installed; "
            "run `sudo apt-get install -y chromium` (Debian/Ubuntu)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"`{' '.join(command)}` failed ({done.returncode}): {done.stderr[-2000:]}")
    found = find_chromium()
    if found is None:
        pytest.fail("apt-get installed chromium but no chromium binary is on PATH")
    return found


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return find_chromium() or install_chromium()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()
