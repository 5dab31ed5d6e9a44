"""Benchmark: what a channel adds to one delivery, against a bare HTTP POST.

    python -m tests.benchmarks.delivery [--messages N]

Sends N incident messages (summary, five detector sentences, three sample lines, three
links, actions) through each HTTP channel to a local receiver that answers `ok`, and,
as the baseline measured in the same run, N bare urllib POSTs of a one-field JSON body
to the same receiver. Prints CPU time per message (this process: client and receiver)
and the ratio to the baseline, then rendering alone (Block Kit, the webhook body, the
Alertmanager alerts) against json.dumps of the baseline body.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from alerting.alert import AlertMessage
from alerting.alertmanager import AlertmanagerNotifier, alertmanager_alerts
from alerting.slack import SlackNotifier
from alerting.slack_blocks import slack_blocks
from alerting.webhook import WebhookNotifier, webhook_body
from tests.alerting.factory import alert_message

MESSAGE = alert_message(
    service="checkout", project="acme-prod", anomaly_types=("error_burst", "new_template"),
    window_start="2026-11-03T09:14:00Z", window_end="2026-11-03T09:31:00Z",
    details=tuple(f"detector {i}: share of ERROR entries rose (baseline=0.02, share=0.4{i})"
                  for i in range(5)),
    samples=tuple(f"ERROR db timeout after 30s pool=main attempt={i} user=<email>"
                  for i in range(3)),
    links=(("Logs Explorer", "https://console.cloud.google.com/logs/query;query=checkout"),
           ("Dashboard", "https://grafana.acme.test/d/alerting"),
           ("Runbook", "https://runbooks.acme.test/checkout")),
    actions=("logwarden ack alert-7f3a", "logwarden silence add service=checkout"),
)


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def cpu_per_call(call: Callable[[], object], n: int) -> float:
    call()  # warm
    started = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - started) / n


def bare_post(url: str) -> Callable[[], object]:
    data = json.dumps({"text": "x"}).encode()

    def post() -> object:
        request = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.read()

    return post


def sending(message: AlertMessage, url: str) -> dict[str, Callable[[], object]]:
    """Each channel built once, as the senders build them, then sending."""
    slack, hook = SlackNotifier(url, 5.0), WebhookNotifier(url, "secret", 5.0)
    manager = AlertmanagerNotifier(url, 5.0)
    return {
        "slack webhook": lambda: slack.send(message, "k"),
        "json webhook": lambda: hook.send(message, "k"),
        "alertmanager": lambda: manager.send(message),
    }


def rendering(message: AlertMessage) -> dict[str, Callable[[], object]]:
    now = datetime.now(UTC)
    return {
        "Block Kit": lambda: json.dumps(slack_blocks(message)),
        "webhook body": lambda: json.dumps(webhook_body(message)),
        "alertmanager alerts": lambda: json.dumps(alertmanager_alerts(message, now)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    n = parser.parse_args().messages
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/services/T1/B2/token"
    try:
        base = cpu_per_call(bare_post(url), n)
        print(f"{'bare POST (baseline)':24} {base * 1e3:7.3f} ms CPU/message  1.00x")
        for name, call in sending(MESSAGE, url).items():
            cost = cpu_per_call(call, n)
            print(f"{name:24} {cost * 1e3:7.3f} ms CPU/message  {cost / base:.2f}x")
    finally:
        server.shutdown()
        server.server_close()
    dumps = cpu_per_call(lambda: json.dumps({"text": "x"}), n * 10)
    print(f"{'json.dumps (baseline)':24} {dumps * 1e6:7.1f} µs CPU/message  1.00x")
    for name, call in rendering(MESSAGE).items():
        cost = cpu_per_call(call, n * 10)
        print(f"{name:24} {cost * 1e6:7.1f} µs CPU/message  {cost / dumps:.0f}x")


if __name__ == "__main__":
    main()
