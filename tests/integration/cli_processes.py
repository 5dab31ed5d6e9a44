"""`logwarden worker` as a user starts it, and one-shot `logwarden` commands with their
output captured."""

from __future__ import annotations

import subprocess

from tests.integration.fleet import FleetConfig, WorkerProcess
from tests.integration.processes import LOGWARDEN


class CliWorker(WorkerProcess):
    """`logwarden worker ARGS` with `children` prefork children, named for pings."""

    def __init__(self, config: FleetConfig, name: str, args: list[str],
                 env: dict[str, str], children: int = 2) -> None:
        self.name = f"{name}@cli-test"
        self.log_path = config.workdir / f"{name}.log"
        command = [LOGWARDEN, "worker", *args, "-c", str(children), "-n", self.name,
                   "--without-gossip", "--without-mingle", "--without-heartbeat"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)


def run_cli(args: list[str], env: dict[str, str],
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """One `logwarden` command; its stdout and stderr captured as text."""
    return subprocess.run([LOGWARDEN, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
