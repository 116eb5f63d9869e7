"""Private, killable PostgreSQL and Redis servers, and gunicorn instances of the app.

Fault tests stop and start these; they never touch the shared servers at 127.0.0.1:5432 and
:6379, which other test runs on this machine rely on.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import unavailable

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PrivateCluster:
    """A throwaway PostgreSQL cluster owned by the postgres user, on a free loopback port."""

    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl_command(self, *args: str) -> list[str]:
        # The cluster belongs to the postgres user: PostgreSQL refuses to run as root.
        return [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            *args,
        ]

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(self._pg_ctl_command(*args), check=True, capture_output=True, timeout=60)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(self.directory / "server.log"), "-w", "start")

    def stop(self) -> None:
        # Immediate: no shutdown checkpoint, every client connection cut, as in a crash.
        self._pg_ctl("-m", "immediate", "-w", "stop")

    def running(self) -> bool:
        return subprocess.run(self._pg_ctl_command("status"), capture_output=True).returncode == 0


@pytest.fixture
def private_postgres() -> Iterator[PrivateCluster]:
    """A fresh PostgreSQL cluster (trust auth) that the test may stop and start at will."""
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        unavailable(f"PostgreSQL server binaries are not in {PG_BIN} (or runuser is missing)")
    if os.geteuid() != 0:
        unavailable("a private PostgreSQL cluster needs root to run initdb as the postgres user")
    # Not pytest's tmp_path: its parents are private to root and postgres must reach the dir.
    directory = Path(tempfile.mkdtemp(prefix="recommender-faults-pg-"))
    shutil.chown(directory, "postgres", "postgres")
    cluster = PrivateCluster(directory, free_port())
    try:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "initdb"),
                "-D",
                str(cluster.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.start()
        yield cluster
    finally:
        if cluster.data.exists() and cluster.running():
            cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class PrivateRedis:
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def freeze(self) -> None:
        """Hang it: the kernel still accepts connections, nothing ever answers."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of our own on a free port, without persistence, that the test may kill."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = PrivateRedis(port, process)
    try:
        wait_for_port(port, process, what="redis-server")
        yield server
    finally:
        if process.poll() is None:
            server.kill()  # SIGKILL ends a frozen (SIGSTOPped) one too


def wait_for_port(port: int, process: subprocess.Popen, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {seconds} s")


def start_gunicorn(environ: dict[str, str], port: int, log: Path, workers: int = 1):
    """``recommender serve`` in a subprocess on 127.0.0.1:``port``; the caller stops it."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "recommender",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env={"PATH": os.environ.get("PATH", ""), **environ},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
