"""A throwaway PostgreSQL cluster for the tests: initdb into a temp folder, a free loopback port,
started with pg_ctl (as the `postgres` user when the tests run as root), stopped at the end.

The fixtures: `postgres_cluster` (one per session) and `postgres_url` (a new empty database per
test). Without PostgreSQL's programs they skip, except in CI (conftest.py turns those skips into
failures, as for Docker).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

SKIP_POSTGRES_ENV = "MANIMAGENT_SKIP_POSTGRES"
SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=300")


def postgres_bindir() -> Path | None:
    """The folder of initdb and pg_ctl: `pg_config --bindir`, else Debian's newest
    /usr/lib/postgresql/N/bin."""
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidate = Path(done.stdout.strip())
        if done.returncode == 0 and (candidate / "initdb").is_file():
            return candidate
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[-3]))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresCluster:
    """One cluster in its own temp folder; `stop()` and `start()` again keep its data and port."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="manimagent-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None  # the server refuses to run as root
        if self.user:
            shutil.chown(self.folder, self.user)

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self.user,
            cwd=self.folder,
            env={**os.environ, "LC_ALL": "C"},
        )

    def init(self) -> None:
        done = self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()}")

    def start(self) -> None:
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.folder}",
                "-c listen_addresses=127.0.0.1",
                *(f"-c {s}" for s in SETTINGS),
            ]
        )
        done = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
        if done.returncode != 0:
            log = (
                (self.folder / "server.log").read_text(errors="replace")[-2000:]
                if (self.folder / "server.log").exists()
                else ""
            )
            raise RuntimeError(f"pg_ctl start failed: {done.stdout.strip()} {done.stderr.strip()} {log}")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.admin(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        try:
            self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        except Exception:  # noqa: BLE001 - the cluster goes away at the end anyway
            pass


def start_cluster() -> PostgresCluster:
    if os.environ.get(SKIP_POSTGRES_ENV) == "1":
        pytest.skip(f"{SKIP_POSTGRES_ENV}=1: PostgreSQL tests skipped on purpose")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install -e '.[postgres]')")
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip(
            "no PostgreSQL server programs (initdb, pg_ctl): apt-get install postgresql, or "
            "scripts/setup.sh --test"
        )
    cluster = PostgresCluster(bindir)
    try:
        cluster.init()
        cluster.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        cluster.remove()
        pytest.skip(f"could not start a PostgreSQL cluster: {exc}")
    return cluster


@pytest.fixture(scope="session")
def postgres_cluster():
    cluster = start_cluster()
    yield cluster
    cluster.remove()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster):
    """A new empty database on the session's cluster, as a SQLAlchemy URL."""
    name = postgres_cluster.create_database()
    yield postgres_cluster.url(name)
    from manimagent.store.db import dispose_engines

    dispose_engines()
    postgres_cluster.drop_database(name)
