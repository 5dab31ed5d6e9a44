"""The real Prometheus (Debian's `prometheus` binary) for a test: its own port and data
folder, scraping the given targets every second with the fleet's rules loaded."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest
import yaml

from tests.integration.fleet import wait_until
from tests.integration.processes import free_port


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found:
        return found
    message = "prometheus is not on PATH: install Debian's prometheus package"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class PrometheusServer:
    """`with PrometheusServer(workdir, {job: ["host:port"]}, rules) as prometheus:`."""

    def __init__(self, workdir: Path, targets: dict[str, list[str]], rules: Path) -> None:
        self.folder = workdir / "prometheus"
        self.folder.mkdir()
        shutil.copy(rules, self.folder / "rules.yml")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["rules.yml"],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": hosts}]}
                               for job, hosts in targets.items()],
        }
        (self.folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log_path = self.folder / "prometheus.log"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PrometheusServer:
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [prometheus_binary(), f"--config.file={self.folder / 'prometheus.yml'}",
                 f"--storage.tsdb.path={self.folder / 'data'}",
                 f"--web.listen-address={self.url.removeprefix('http://')}"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_until(self._ready, 60, "Prometheus to be ready")
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(10)

    def _ready(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            raise AssertionError(f"prometheus exited:\n{self.log_path.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, expr: str) -> dict[str, Any]:
        """The API's answer to an instant query: `status` is "error" if it does not parse."""
        reply = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        answer: dict[str, Any] = reply.json()
        return answer

    def query_range(self, expr: str, start: float, end: float, step_s: float) -> list[Any]:
        """The series of a range query, each with its `metric` labels and `values`."""
        reply = httpx.get(f"{self.url}/api/v1/query_range",
                          params={"query": expr, "start": start, "end": end, "step": step_s},
                          timeout=10).json()
        assert reply["status"] == "success", reply
        result: list[Any] = reply["data"]["result"]
        return result

    def has_data(self, expr: str) -> bool:
        answer = self.query(expr)
        return answer["status"] == "success" and bool(answer["data"]["result"])

    def label_values(self, label: str, metric: str) -> list[str]:
        """The values `label` takes on `metric`'s series, as Grafana's label_values asks."""
        reply = httpx.get(f"{self.url}/api/v1/label/{label}/values",
                          params={"match[]": metric}, timeout=10).json()
        values: list[str] = reply["data"]
        return values

    def rules(self) -> list[dict[str, Any]]:
        """The rules Prometheus loaded (and evaluates), from its API."""
        reply = httpx.get(f"{self.url}/api/v1/rules", timeout=10).json()
        return [rule for group in reply["data"]["groups"] for rule in group["rules"]]
