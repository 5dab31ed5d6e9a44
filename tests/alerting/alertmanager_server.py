"""The real Alertmanager (Debian's `prometheus-alertmanager`) for tests: its own port,
storage folder and config, clustering off, its notifications routed to a webhook stand-in."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest
import yaml

from tests.alerting.conftest import free_port

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


def alertmanager_binary() -> str:
    found = shutil.which("prometheus-alertmanager") or (
        ALERTMANAGER if os.access(ALERTMANAGER, os.X_OK) else None)
    if found:
        return found
    message = "prometheus-alertmanager is not installed: install Debian's package"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def wait_for(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """The first truthy result of `check`, polled until `timeout_s` has passed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class AlertmanagerServer:
    """`with AlertmanagerServer(folder, notify_url) as am:`; routes every alert, grouped
    by incident, to `notify_url` (resolved ones too) within about a second."""

    def __init__(self, folder: Path, notify_url: str) -> None:
        self.folder = folder
        config = {
            "route": {"receiver": "notify", "group_by": ["incident"], "group_wait": "200ms",
                      "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "notify", "webhook_configs": [
                {"url": notify_url, "send_resolved": True}]}],
        }
        (folder / "alertmanager.yml").write_text(yaml.safe_dump(config))
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log_path = folder / "alertmanager.log"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> AlertmanagerServer:
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [alertmanager_binary(), f"--config.file={self.folder / 'alertmanager.yml'}",
                 f"--storage.path={self.folder / 'data'}",
                 f"--web.listen-address={self.url.removeprefix('http://')}",
                 "--cluster.listen-address="],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_for(self._ready, 30, "Alertmanager to be ready")
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds (active, silenced and inhibited; not resolved)
        whose labels equal `filters`."""
        matchers = [f'{name}="{value}"' for name, value in filters.items()]
        reply = httpx.get(f"{self.url}/api/v2/alerts", params={"filter": matchers}, timeout=5)
        reply.raise_for_status()
        return list(reply.json())

    def silence(self, creator: str, comment: str, **labels: str) -> str:
        """Creates a one-hour silence of the alerts whose labels equal `labels`."""
        now = time.time()
        body = {
            "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True}
                         for k, v in labels.items()],
            "startsAt": _rfc3339(now - 1), "endsAt": _rfc3339(now + 3600),
            "createdBy": creator, "comment": comment,
        }
        reply = httpx.post(f"{self.url}/api/v2/silences", json=body, timeout=5)
        reply.raise_for_status()
        return str(reply.json()["silenceID"])

    def _ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise AssertionError(f"Alertmanager exited:\n{self.log_path.read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


def _rfc3339(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))
