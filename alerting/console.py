"""Local channels: a terminal, a JSON-lines file, and an in-memory twin for tests.

Embedded mode prints alerts with `ConsoleNotifier` and keeps them with `FileNotifier`;
`MemoryNotifier` stands in for any channel where a test needs to see what was sent.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from alerting.alert import AlertMessage
from alerting.notifier import DeliveryResult, delivered, give_up, retry_later
from alerting.render import plain_text


class ConsoleNotifier:
    """Writes each alert to `stream` as a few readable lines."""

    def __init__(self, stream: TextIO, *, name: str = "console") -> None:
        self.name = name
        self._stream = stream

    def send(self, message: AlertMessage, key: str | None = None) -> DeliveryResult:
        try:
            self._stream.write(plain_text(message))
            self._stream.flush()
        except ValueError as error:  # the stream was closed: it will not reopen
            return give_up(f"console stream unusable: {error}")
        except OSError as error:
            return retry_later(f"console write failed: {error}")
        return delivered()


class FileNotifier:
    """Appends each alert to `path` as one JSON object per line."""

    def __init__(self, path: str | Path, *, name: str = "file") -> None:
        self.name = name
        self.path = Path(path)

    def send(self, message: AlertMessage, key: str | None = None) -> DeliveryResult:
        line = json.dumps(message_fields(message), ensure_ascii=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One write of one whole line in append mode: concurrent writers never interleave.
            with self.path.open("a", encoding="utf-8") as file:
                file.write(line)
        except OSError as error:
            return retry_later(f"cannot append to {self.path.name}: {error.strerror or error}")
        return delivered()


def message_fields(message: AlertMessage) -> dict[str, object]:
    """The message as plain JSON-ready values (severity as its name, details as a list)."""
    return message.to_payload()


class MemoryNotifier:
    """Keeps every message it is asked to send; answers with the scripted results in
    order, then with success."""

    def __init__(self, name: str = "memory", results: Iterable[DeliveryResult] = ()) -> None:
        self.name = name
        self.attempts: list[AlertMessage] = []
        self.keys: list[str | None] = []
        self._results = deque(results)

    def send(self, message: AlertMessage, key: str | None = None) -> DeliveryResult:
        self.attempts.append(message)
        self.keys.append(key)
        return self._results.popleft() if self._results else delivered()
