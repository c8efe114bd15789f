"""A throwaway PostgreSQL server for tests: `initdb` + `pg_ctl` on a temporary directory.

The tests that need PostgreSQL use the `pg_url` fixture (tests/core/conftest.py): one server per
test session on 127.0.0.1 and a random port, a fresh database per test. Where no server binaries
are installed they skip, saying how to get them (`apt-get install postgresql`, which .ci/run
does). `PBPM_TEST_PG_URL=postgres://user@host:port/db` uses an existing server instead (the
user must be allowed to CREATE DATABASE).

PostgreSQL refuses to run as root; as root the server runs as the `postgres` user (the Debian
package creates it) through `runuser`.

Also a script, for checks outside pytest (packaging/bundle/test_bundle.sh in CI):
    python tests/postgres.py run -- CMD ARGS…   # CMD runs with PBPM_TEST_PG_URL set
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

#: the reason tests skip when there is no server to start
NO_SERVER = (
    "PostgreSQL tests skipped: no PostgreSQL server binaries (initdb, pg_ctl) found. Install them "
    "with `apt-get install postgresql` (Debian/Ubuntu), or point PBPM_TEST_PG_URL at a server."
)
SUPERUSER = "pbpm"


def find_bindir() -> Path | None:
    """The directory with initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).parent] if on_path else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PREFIX = "pbpm-pg-"
OWNER_FILE = "owner.pid"  # the pid of the test process that started the cluster


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PostgresServer:
    """One cluster in a temporary directory, stopped and deleted by `stop()`."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.reap_orphans()
        self.root = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.root / OWNER_FILE).write_text(str(os.getpid()))
        self.port = _free_port()
        self.run_as: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError(
                    "running as root and there is no `postgres` user to run the server as"
                ) from exc
            self.run_as = "postgres"
            shutil.chown(self.root, user="postgres")
        os.chmod(self.root, 0o700)

    def reap_orphans(self) -> None:
        """Stop clusters left by test runs that died (a crash skips `stop()`)."""
        for root in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
            try:
                owner = int((root / OWNER_FILE).read_text())
            except (OSError, ValueError):
                continue
            if _alive(owner):
                continue
            orphan = object.__new__(PostgresServer)
            orphan.bindir, orphan.root = self.bindir, root
            orphan.run_as = "postgres" if os.geteuid() == 0 else None
            try:
                orphan.stop()
            except subprocess.CalledProcessError:  # not running any more: just the files
                shutil.rmtree(root, ignore_errors=True)

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, cwd=self.root)

    def start(self) -> None:
        data = str(self.root / "data")
        self._run("initdb", "-D", data, "-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--no-sync")
        options = f"-k {self.root} -p {self.port} -c listen_addresses=127.0.0.1 -F"
        self._run("pg_ctl", "-D", data, "-l", str(self.root / "log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgres://{SUPERUSER}@127.0.0.1:{self.port}/postgres"


def fresh_database(server_url: str) -> str:
    """Create an empty database on the server at `server_url`; returns its URL."""
    import asyncpg

    name = "pbpm_test_" + uuid.uuid4().hex[:12]

    async def create() -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return server_url.rsplit("/", 1)[0] + "/" + name


def main(argv: list[str]) -> int:
    """`run -- CMD…`: start a server, run CMD with PBPM_TEST_PG_URL set to a fresh database."""
    if len(argv) < 3 or argv[:2] != ["run", "--"]:
        print("usage: python tests/postgres.py run -- CMD [ARGS…]", file=sys.stderr)
        return 2
    bindir = find_bindir()
    if bindir is None:
        print(NO_SERVER, file=sys.stderr)
        return 1
    server = PostgresServer(bindir)
    server.start()
    try:
        env = {**os.environ, "PBPM_TEST_PG_URL": fresh_database(server.url)}
        return subprocess.run(argv[2:], env=env).returncode
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
