"""Faults bench/load.py injects mid-run (``--fault NAME``), each against private servers.

A fault is a context manager: entering starts what it needs (a private redis-server, a private
PostgreSQL cluster) and gives the server's environment and the database server to use;
``begin`` and ``end`` bracket the fault during the load; leaving stops and removes everything.
The load runs a third of its time without the fault, a third with it and a third after, and
compares the two (bench/load.py).

To add one: subclass :class:`Fault`, say whether the database is out (5xx allowed) or
connections drop (requests without an answer allowed) during it, and list it in :data:`FAULTS`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import ClassVar

from recommender.datasets import fetch_ml100k  # bench/load.py puts the checkout on sys.path

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {seconds} s")


class Fault:
    """A fault and the private servers it needs."""

    name: ClassVar[str]
    description: ClassVar[str]
    # The database is unreachable during the fault: 503s then are the app doing its job.
    database_outage: ClassVar[bool] = False
    # Connections may drop during the fault (a killed process): requests without an answer.
    drops_connections: ClassVar[bool] = False
    # Seconds after end() still counted as "during": reconnecting takes a moment.
    grace_seconds: ClassVar[float] = 0.0
    # A blow rather than a state: end() follows begin() at once and returns once the system
    # has recovered, so "during" is the recovery, not the middle third of the run.
    instant: ClassVar[bool] = False

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # The environment the app server runs with (its database), set by the load before begin.
        self.server_environ: dict[str, str] = {}

    def environ(self) -> dict[str, str]:
        """Settings the app server runs with for this fault."""
        return {}

    def database_server(self, requested: str | None) -> str | None:
        """The PostgreSQL server to make the scratch database on (None: SQLite)."""
        return requested

    def begin(self, server: subprocess.Popen) -> None:
        raise NotImplementedError

    def end(self, server: subprocess.Popen) -> None:
        """Undo the fault; returns once it is undone."""

    def __enter__(self) -> Fault:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Stop and remove the private servers."""


class RedisHang(Fault):
    """A private redis-server as cache and rate-limit store, frozen with SIGSTOP: it accepts
    connections (the kernel does) and never answers."""

    name = "redis-hang"
    description = "Redis frozen (SIGSTOP): connections accepted, never answered"

    def __enter__(self) -> RedisHang:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-fault needs redis-server on PATH")
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port)
        return self

    def environ(self) -> dict[str, str]:
        # RATELIMIT_STORAGE_URL follows CACHE_URL: both the cache and the limiter use it.
        return {"CACHE_URL": f"redis://127.0.0.1:{self.port}/0"}

    def begin(self, server: subprocess.Popen) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def end(self, server: subprocess.Popen) -> None:
        self.process.send_signal(signal.SIGCONT)

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


class WorkerKill(Fault):
    """SIGKILL one gunicorn worker in the middle of its requests; the master forks another."""

    name = "worker-kill"
    description = "one gunicorn worker killed (SIGKILL), until the master has forked a new one"
    drops_connections = True
    instant = True
    grace_seconds = 1.0

    @staticmethod
    def _workers(server: subprocess.Popen) -> list[int]:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text()
        return [int(pid) for pid in children.split()]

    def begin(self, server: subprocess.Popen) -> None:
        workers = self._workers(server)
        if not workers:
            raise RuntimeError("the server has no worker to kill")
        self.count, self.killed = len(workers), workers[0]
        os.kill(self.killed, signal.SIGKILL)

    def end(self, server: subprocess.Popen) -> None:
        # The app is built before the fork (recommender/server.py): a new worker serves at once.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            workers = self._workers(server)
            if len(workers) >= self.count and self.killed not in workers:
                return
            time.sleep(0.01)
        raise RuntimeError("gunicorn forked no new worker within 30 s")


class PostgresRestart(Fault):
    """A private PostgreSQL cluster, crash-stopped (``pg_ctl stop -m immediate``: every
    connection cut, no checkpoint) and started again (crash recovery from the WAL)."""

    name = "pg-restart"
    description = "PostgreSQL crash-stopped (pg_ctl -m immediate) and started again"
    database_outage = True
    drops_connections = True
    grace_seconds = 2.0

    def __enter__(self) -> PostgresRestart:
        if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
            raise RuntimeError(f"pg-restart needs PostgreSQL's server binaries in {PG_BIN}")
        if os.geteuid() != 0:
            raise RuntimeError("pg-restart runs initdb as the postgres user: run it as root")
        # Not under the load's temporary directory: the postgres user must reach it.
        self.cluster = Path(tempfile.mkdtemp(prefix="recommender-load-pg-"))
        shutil.chown(self.cluster, "postgres", "postgres")
        self.port = free_port()
        self._as_postgres(PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                          "--no-sync", "--no-instructions")  # fmt: skip
        self._start()
        return self

    @property
    def data(self) -> str:
        return str(self.cluster / "data")

    def _as_postgres(self, *command: object) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *map(str, command)],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def _pg_ctl(self, *args: str) -> None:
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, *args)

    def _start(self) -> None:
        options = f"-p {self.port} -k {self.cluster} -c listen_addresses=127.0.0.1"
        self._pg_ctl("-o", options, "-l", str(self.cluster / "server.log"), "-w", "start")

    def database_server(self, requested: str | None) -> str | None:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def begin(self, server: subprocess.Popen) -> None:
        self._pg_ctl("-m", "immediate", "-w", "stop")

    def end(self, server: subprocess.Popen) -> None:
        self._start()

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self._pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(self.cluster, ignore_errors=True)


class Import(Fault):
    """``recommender import movielens`` of MovieLens 100K, in a process of its own, on the
    server's database while the load runs: "during" is the import, from start to exit."""

    name = "import"
    description = "a MovieLens 100K import (recommender import movielens) runs"
    instant = True  # end() waits for the import to finish: "during" is the import itself.

    def __enter__(self) -> Import:
        self.dataset = fetch_ml100k(ROOT / ".cache" / "datasets")
        self.log = self.directory / "import.log"
        return self

    def begin(self, server: subprocess.Popen) -> None:
        command = [sys.executable, "-m", "recommender", "import", "movielens", str(self.dataset)]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, **self.server_environ},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started = time.perf_counter()

    def end(self, server: subprocess.Popen) -> None:
        status = self.process.wait(timeout=600)
        seconds = time.perf_counter() - self.started
        output = self.log.read_text(errors="replace")
        if status != 0:
            raise RuntimeError(f"the import failed ({status}): {output[-2000:]}")
        # SQLite's staged writes: "written in one transaction of ..." or "in N transactions".
        written = [line.strip() for line in output.splitlines() if "written in " in line]
        # Shown by the report in place of the class's description.
        self.description = f"{self.description}: {seconds:.1f} s" + (
            f", {written[0]}" if written else ""
        )

    def __exit__(self, *exc: object) -> None:
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)


FAULTS: dict[str, type[Fault]] = {
    fault.name: fault for fault in (RedisHang, PostgresRestart, WorkerKill, Import)
}
