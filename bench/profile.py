"""py-spy attached to a run's processes, and its raw output (`frame;frame;…;leaf count` per
line) read into a short summary."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.models import ProfileSummary
from bench.procs import Proc

# A frame reads "function (path/to/module.py:123)"; the line number is dropped to aggregate.
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<path>[^():]+)(?::\d+)?\)$")
WAYPOST_PACKAGES = ("workflows", "activities", "starter")
# The CLI's entry point, its `api` command and the asyncio runner under it: on every stack of
# the API process, they say nothing.
WIRING = ("starter/cli/main.py", "starter/cli/infra.py", "starter/cli/common.py")


def _wiring(label: str) -> bool:
    """Entry points and ASGI middleware (`X.__call__`): they wrap everything under them."""
    return label.endswith(tuple(f"({w})" for w in WIRING)) or ".__call__ (" in label


def _frame(raw: str) -> tuple[str, str]:
    """(label, package) of one frame."""
    match = _FRAME.match(raw.strip())
    if match is None:
        return raw.strip(), "?"
    path = match["path"]
    return f"{match['func']} ({path})", path.split("/", 1)[0]


def summarize(process: str, phase: str, file: Path, top: int = 10) -> ProfileSummary:
    leaf: Counter[str] = Counter()
    package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in file.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")]
        total += count
        label, pkg = frames[-1]
        leaf[label] += count
        package[pkg] += count
        for name in {
            label for label, pkg in frames if pkg in WAYPOST_PACKAGES and not _wiring(label)
        }:
            inclusive[name] += count

    def pct(counter: Counter[str]) -> list[tuple[str, float]]:
        return (
            [(k, round(100 * v / total, 1)) for k, v in counter.most_common(top)] if total else []
        )

    return ProfileSummary(
        process=process,
        phase=phase,
        file=str(file),
        samples=total,
        top_self=pct(leaf),
        by_package=pct(package),
        waypost_inclusive=pct(inclusive),
    )


@dataclass
class Profiler:
    """py-spy attached to a process for one phase: sampling only the thread holding the GIL
    (Python's CPU time, idle waits left out), non-blocking (it never pauses the process)."""

    enabled: bool
    out_dir: Path
    rate: int = 50
    running: list[tuple[subprocess.Popen[bytes], str, str, Path]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # the logs of py-spys that wrote nothing

    @staticmethod
    def binary() -> str | None:
        beside = Path(sys.executable).parent / "py-spy"
        return str(beside) if beside.exists() else shutil.which("py-spy")

    def attach(self, proc: Proc, phase: str) -> None:
        spy = self.binary()
        if not self.enabled or spy is None or not proc.alive():
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        slug = proc.name.split(" (")[0].replace(" ", "-")
        out = self.out_dir / f"{phase}-{slug}.txt"
        args = [spy, "record", "--pid", str(proc.pid), "--rate", str(self.rate)]
        args += ["--gil", "--nonblocking", "--format", "raw", "--output", str(out)]
        log = (self.out_dir / f"{phase}-{slug}.log").open("ab")
        with log:
            spy_proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.running.append((spy_proc, proc.name, phase, out))

    async def detach(self) -> list[tuple[str, str, Path]]:
        """Stop every py-spy (it writes its file on SIGINT); (process, phase, file) each."""
        done = []
        for spy_proc, name, phase, out in self.running:
            if spy_proc.poll() is None:
                spy_proc.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(spy_proc.wait, 30)
            except subprocess.TimeoutExpired:
                spy_proc.kill()
                await asyncio.to_thread(spy_proc.wait)
            if out.exists():
                done.append((name, phase, out))
            else:
                self.failed.append(str(out.with_suffix(".log")))
        self.running.clear()
        return done
