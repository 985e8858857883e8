"""A throwaway PostgreSQL server on 127.0.0.1 for the tests and the benchmark.

``start_postgres()`` finds ``initdb`` and ``pg_ctl`` (on PATH or in ``/usr/lib/postgresql/*/bin``,
where Debian's ``postgresql`` package puts them), initialises a cluster in a fresh temporary
directory with trust authentication, and starts it on a free port listening on 127.0.0.1 only,
with its Unix socket in that directory. PostgreSQL refuses to run as root, so as root the server
commands run as the ``postgres`` system user (``runuser -u postgres --``, or ``su``) and the
directory is handed to that user. ``server.stop()`` stops it and deletes the directory.

The server's default time zone is deliberately not UTC (``TIMEZONE``, three and a half hours
behind), so code that stores or compares naive and aware times differently fails here, not on a
team's server. A missing server is reported as :class:`PostgresUnavailable` naming what is missing;
the fixtures below (import them into a test module) turn it into a skip with that reason:
``postgres_server`` (one server per test session) and ``pg_url`` (a fresh database per test).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TIMEZONE = "America/St_Johns"
DATABASE = "workbench"


class PostgresUnavailable(Exception):
    """No PostgreSQL server can be started here; the message says why."""


def find_binary(name: str) -> str | None:
    """``name`` on PATH, else in the newest ``/usr/lib/postgresql/<version>/bin``."""
    found = shutil.which(name)
    if found:
        return found
    candidates = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")

    def version(path: str) -> tuple[int, ...]:
        part = Path(path).parts[-3]
        return tuple(int(p) for p in part.split(".") if p.isdigit())

    return max(candidates, key=version) if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user() -> tuple[list[str], int | None, int | None]:
    """(command prefix, uid, gid) to run server commands: as ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return [], None, None
    import pwd

    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("running as root and there is no 'postgres' system user to run the server") from None
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--"], entry.pw_uid, entry.pw_gid
    su = shutil.which("su")
    if su:
        return [su, "postgres", "-s", "/bin/sh", "-c", '"$0" "$@"'], entry.pw_uid, entry.pw_gid
    raise PostgresUnavailable("running as root and neither runuser nor su is available to switch to 'postgres'")


@dataclass
class PostgresServer:
    root: Path
    port: int
    pg_ctl: str
    prefix: list[str]
    databases: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self):  # a psycopg connection in autocommit mode
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True)

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = name or f"wb_{uuid.uuid4().hex[:12]}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.databases:
            self.databases.remove(name)

    def stop(self) -> None:
        """Stop the server at once and delete its directory."""
        subprocess.run(
            [*self.prefix, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres(fast: bool = True, max_connections: int = 300) -> PostgresServer:
    """Initialise and start a private server; ``fast`` turns off fsync (for tests, never for figures)."""
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    missing = [name for name, path in (("initdb", initdb), ("pg_ctl", pg_ctl)) if path is None]
    if missing:
        raise PostgresUnavailable(
            f"{' and '.join(missing)} not found on PATH or in /usr/lib/postgresql/*/bin (install Debian's postgresql)"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise PostgresUnavailable("the psycopg driver is not installed (pip install 'psycopg[binary]')") from None
    prefix, uid, gid = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="wb-pg-"))
    if uid is not None:
        os.chown(root, uid, gid)

    def run(args: list[str], what: str) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = root / "server.log"
            detail = (done.stderr or done.stdout or "").strip().splitlines()
            if log.exists():
                detail += log.read_text(errors="replace").strip().splitlines()[-1:]
            raise PostgresUnavailable(f"{what} failed: {detail[-1] if detail else 'no output'}")

    try:
        run(
            [initdb, "-D", str(root / "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale",
             "--no-sync"],
            "initdb",
        )  # fmt: skip
    except PostgresUnavailable:
        shutil.rmtree(root, ignore_errors=True)
        raise
    options = [
        "-c listen_addresses=127.0.0.1",
        f"-k {root}",
        f"-c max_connections={max_connections}",
        f"-c timezone={TIMEZONE}",
    ]
    if fast:
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    error: PostgresUnavailable | None = None
    for _ in range(3):  # a free port can be taken between probing and binding
        port = _free_port()
        try:
            run(
                [pg_ctl, "-D", str(root / "data"), "-l", str(root / "server.log"), "-w", "-t", "60",
                 "-o", " ".join([f"-p {port}", *options]), "start"],
                "pg_ctl start",
            )  # fmt: skip
        except PostgresUnavailable as exc:
            error = exc
            continue
        server = PostgresServer(root, port, pg_ctl, prefix)
        try:
            server.create_database(DATABASE)
        except Exception as exc:
            server.stop()
            raise PostgresUnavailable(f"the server started but creating a database failed: {exc}") from None
        return server
    shutil.rmtree(root, ignore_errors=True)
    raise error or PostgresUnavailable("pg_ctl start failed")


@contextlib.contextmanager
def postgres(fast: bool = True) -> Iterator[PostgresServer]:
    server = start_postgres(fast=fast)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway server for the test session; skips, saying why, where none can be started."""
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL server could be started: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped afterwards."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url.rsplit("/", 1)[1])
