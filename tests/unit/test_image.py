"""The Docker image's Python package builds from what the Dockerfile copies (no Docker engine
here, so on paper and with pip): the build context is laid out as the COPY lines and
.dockerignore say, then built as a wheel with the interpreter's own setuptools (offline),
and the wheel must hold every package the worker imports.

This is the check that would have caught `bench` packaged by pyproject.toml but never
copied: `pip install .` in the image failed ("package directory 'bench' does not exist").
"""

from __future__ import annotations

import fnmatch
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The first-party packages worker.py imports (the import in the last test checks the list).
WORKER_PACKAGES = ("workflows", "activities", "store", "runtime", "starter", "devtools")


def copy_instructions(dockerfile: str) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY from the build context, in order."""
    logical = dockerfile.replace("\\\n", " ")
    found: list[tuple[list[str], str]] = []
    for line in logical.splitlines():
        words = shlex.split(line, comments=True)
        if not words or words[0].upper() != "COPY":
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        assert not any(w.startswith("--from") for w in words), "COPY --from is not the context"
        found.append((args[:-1], args[-1]))
    return found


def ignore_patterns(dockerignore: str) -> list[str]:
    return [
        line.strip()
        for line in dockerignore.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def _matches(pattern: str, path: PurePosixPath) -> bool:
    """Docker's rule: a pattern matches a path or any folder above it; `**` spans folders."""
    for depth in range(1, len(path.parts) + 1):
        prefix = PurePosixPath(*path.parts[:depth]).as_posix()
        if fnmatch.fnmatchcase(prefix, pattern):
            return True
        if pattern.startswith("**/") and fnmatch.fnmatchcase(
            path.parts[depth - 1], pattern.removeprefix("**/")
        ):
            return True
    return False


def ignored(path: PurePosixPath, patterns: list[str]) -> bool:
    """The last pattern that matches decides (`!pattern` brings a path back)."""
    verdict = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        if _matches(pattern.removeprefix("!").strip("/"), path):
            verdict = not keep
    return verdict


def lay_out_context(root: Path, target: Path) -> list[str]:
    """Copy into `target` (the image's WORKDIR) what the Dockerfile's COPY lines take from
    `root`, minus what .dockerignore leaves out of the context; the paths copied."""
    patterns = ignore_patterns((root / ".dockerignore").read_text())
    copied: list[str] = []
    for sources, destination in copy_instructions((root / "Dockerfile").read_text()):
        for source in sources:
            origin = root / source
            assert origin.exists(), f"Dockerfile copies {source}, which the repository lacks"
            files = [origin] if origin.is_file() else sorted(origin.rglob("*"))
            for file in files:
                if not file.is_file():
                    continue
                relative = PurePosixPath(file.relative_to(root).as_posix())
                if ignored(relative, patterns):
                    continue
                if destination.endswith("/"):
                    # `COPY a b ./`: files land by name; folders' contents land in it.
                    inside = file.relative_to(origin) if origin.is_dir() else Path(file.name)
                    placed = target / destination / inside
                else:
                    inside = file.relative_to(origin) if origin.is_dir() else Path()
                    placed = target / destination / inside
                placed.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, placed)
                copied.append(relative.as_posix())
    return copied


def build_wheel(context: Path, out: Path) -> Path:
    """`pip wheel` of the context, offline: the build backend is this interpreter's."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "-w",
            str(out),
            str(context),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, f"the image's package does not build:\n{done.stderr[-3000:]}"
    (wheel,) = out.glob("waypost-*.whl")
    return wheel


def test_the_ignore_rules_read_as_docker_reads_them() -> None:
    patterns = ["**/__pycache__", "*.egg-info", "bench", "!bench/keep.py"]
    assert ignored(PurePosixPath("workflows/journey/__pycache__/x.pyc"), patterns)
    assert ignored(PurePosixPath("waypost.egg-info/PKG-INFO"), patterns)
    assert ignored(PurePosixPath("bench/run.py"), patterns)
    assert not ignored(PurePosixPath("bench/keep.py"), patterns)
    assert not ignored(PurePosixPath("workflows/journey/workflow.py"), patterns)


def test_the_copy_lines_are_read_with_their_destinations() -> None:
    text = "FROM x\nCOPY pyproject.toml README.md ./\nCOPY workflows workflows\n"
    assert copy_instructions(text) == [
        (["pyproject.toml", "README.md"], "./"),
        (["workflows"], "workflows"),
    ]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    """The paths the Dockerfile copies, and the wheel built from them (once per module)."""
    build = tmp_path_factory.mktemp("image")
    copied = lay_out_context(ROOT, build / "app")
    return copied, build_wheel(build / "app", build / "wheels")


def test_the_image_package_builds_from_what_the_dockerfile_copies(
    image: tuple[list[str], Path],
) -> None:
    copied, wheel = image
    assert "worker.py" in copied
    assert not any(p.startswith(("bench/", "tests/")) for p in copied)

    names = set(zipfile.ZipFile(wheel).namelist())
    assert "worker.py" in names
    for package in WORKER_PACKAGES:
        assert f"{package}/__init__.py" in names, f"the image's wheel lacks {package}/"
    assert any(n.startswith("starter/api/dashboard/templates/") for n in names)
    assert not any(n.startswith("bench/") for n in names)


def test_the_installed_wheel_imports_without_the_checkout(
    image: tuple[list[str], Path], tmp_path: Path
) -> None:
    """Installed on its own (no checkout on the path), the wheel has what the worker and the
    `waypost` command import."""
    _, wheel = image
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    neutral = tmp_path / "elsewhere"
    neutral.mkdir()
    # argv: the installed site, then the first-party top-level names to look for.
    probe = (
        "import sys, worker, starter.cli.main\n"
        "site, names = sys.argv[1], {'worker', *sys.argv[2:]}\n"
        "mine = [m.__file__ for n, m in sys.modules.items()\n"
        "        if n.split('.')[0] in names and getattr(m, '__file__', None)]\n"
        "outside = [f for f in mine if not f.startswith(site)]\n"
        "assert mine and not outside, outside\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(site), *WORKER_PACKAGES],
        cwd=neutral,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
