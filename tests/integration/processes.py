"""Logwarden's own long-running commands as real processes, for fleet tests: `logwarden
push`, `logwarden ingest` and `logwarden beat`, each in its own process group, with its
output in a log file of the test's folder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.fleet import REPO, FleetConfig, wait_until

LOGWARDEN = str(Path(sys.executable).parent / "logwarden")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CommandProcess:
    """One `logwarden ...` process; `kill` is SIGKILL to its whole group."""

    def __init__(self, config: FleetConfig, name: str, args: list[str],
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log_path = config.workdir / f"{name}.log"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [LOGWARDEN, *args], cwd=REPO, env={**config.env(), **(env or {})},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise AssertionError(f"{self.name} exited ({self.process.returncode}):\n{tail}")

    def kill(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then SIGKILL if it hangs; returns the exit code."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.process.returncode)


class ServingProcess(CommandProcess):
    """A `logwarden` command serving HTTP on a free loopback port, ready once `/healthz`
    answers."""

    def __init__(self, config: FleetConfig, name: str, command: str,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(config, name, [command, "--host", "127.0.0.1", "--port", str(self.port)],
                         env)

    def wait_ready(self, timeout: float = 30) -> None:
        def serving() -> bool:
            self.check_alive()
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(serving, timeout, f"{self.name} to serve")


class PushProcess(ServingProcess):
    """`logwarden push` on a free loopback port, with the shared token `token`."""

    def __init__(self, config: FleetConfig, token: str, env: dict[str, str] | None = None,
                 name: str = "push") -> None:
        super().__init__(config, name, "push", {"LOGWARDEN_PUSH_TOKEN": token, **(env or {})})


class ApiProcess(ServingProcess):
    """`logwarden api` (the HTTP API alone) on a free loopback port."""

    def __init__(self, config: FleetConfig, env: dict[str, str] | None = None,
                 name: str = "api") -> None:
        super().__init__(config, name, "api", env)
