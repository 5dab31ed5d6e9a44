"""Task arguments never reach a log line.

A detect task's argument is a batch: log text, which may hold anything (tokens,
passwords, personal data). Celery writes a task's `argsrepr` into the worker's "Task
received" line and into failure lines, and computes it from the arguments when the
sender gave none; so every message we send carries a short summary instead.
"""

from __future__ import annotations

from typing import Any

from celery import signals


def hide_task_arguments() -> None:
    """Makes every task this process sends carry an argument summary; idempotent."""
    signals.before_task_publish.connect(_summarize, weak=False, dispatch_uid=__name__)


def argument_summary(args: Any, kwargs: Any) -> tuple[str, str]:
    """(argsrepr, kwargsrepr): how many arguments, how large, never what."""
    values = list(args) if isinstance(args, list | tuple) else []
    size = sum(len(v) if isinstance(v, str | bytes) else 0 for v in values)
    argsrepr = f"<{len(values)} argument(s), {size} characters>" if values else "()"
    names = sorted(kwargs) if isinstance(kwargs, dict) else []
    kwargsrepr = "{" + ", ".join(f"{name}: <hidden>" for name in names) + "}"
    return argsrepr, kwargsrepr


def _summarize(
    sender: str | None = None,
    body: Any = None,
    headers: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    # Task protocol 2: the body is (args, kwargs, embed); the headers are sent as given.
    if headers is None or not isinstance(body, tuple | list) or len(body) < 2:
        return
    headers["argsrepr"], headers["kwargsrepr"] = argument_summary(body[0], body[1])
