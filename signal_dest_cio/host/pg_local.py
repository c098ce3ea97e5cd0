"""A throwaway PostgreSQL cluster on a loopback port, for tests, benchmarks and trying out
several hosts on one machine.

It uses the server's own binaries (Debian's `postgresql` package puts them under
`/usr/lib/postgresql/<version>/bin`): `initdb` into a temporary directory and `pg_ctl`
to start it on 127.0.0.1 only, no Unix socket, trust authentication (nothing but
this machine can reach it). PostgreSQL refuses to run as root, so as root the
cluster is run as an unprivileged user (`nobody`, via `runuser`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

UNPRIVILEGED_USER = "nobody"


def find_binaries() -> Path | None:
    """The newest installed server's bin directory (with initdb and pg_ctl), or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalCluster:
    """`start()` -> a `postgresql://` URL; `stop()` removes everything."""

    def __init__(self, binaries: Path, *, durable: bool = False) -> None:
        self.binaries = binaries
        self.durable = durable  # fsync on (benchmarks); tests run without it
        self.root = Path(tempfile.mkdtemp(prefix="signal-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._user: str | None = UNPRIVILEGED_USER if os.geteuid() == 0 else None
        if self._user is not None:
            record = pwd.getpwnam(self._user)
            os.chown(self.root, record.pw_uid, record.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.binaries / tool), *args]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.root, timeout=120)

    def start(self) -> str:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")  # fmt: skip
        settings = [
            "listen_addresses=127.0.0.1",
            f"port={self.port}",
            "unix_socket_directories=",
            "max_connections=200",
        ]
        if not self.durable:
            settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        options = " ".join(f"-c {setting}" for setting in settings)
        log = self.root / "server.log"
        try:
            self._run("pg_ctl", "-D", str(self.data), "-l", str(log), "-w", "-t", "60",
                      "-o", options, "start")  # fmt: skip
        except subprocess.CalledProcessError as error:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {error.stderr!r} {text}") from error
        return self.url

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def local_cluster(*, durable: bool = False) -> Iterator[str]:
    """A started cluster's URL for the duration of the block; RuntimeError without binaries."""
    binaries = find_binaries()
    if binaries is None:
        raise RuntimeError("no PostgreSQL server binaries (apt-get install postgresql)")
    cluster = LocalCluster(binaries, durable=durable)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
