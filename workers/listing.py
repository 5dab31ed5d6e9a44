"""What the listing commands share: opening a database that must exist, and --json rows."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import msgspec
import sqlalchemy
from sqlalchemy.engine import make_url

from pipeline.anomaly import Anomaly
from pipeline.links import logs_explorer_url
from pipeline.storage import DeadLetterRow, Store, make_engine
from pipeline.storage.models import TEMPLATES
from workers.clierrors import ConfigError
from workers.settings import Settings

POINT_AT_ONE = (
    "point at one with --db URL or LOGWARDEN_DATABASE_URL (`logwarden run` prints the "
    "database it wrote to)"
)


def open_existing_store(settings: Settings) -> Store:
    """The store, only when its database exists and has Logwarden's tables.

    A command that reads must not leave an empty SQLite file behind because a path
    was wrong: the file is checked before anything connects to it.
    """
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database)
        if not path.is_file():
            raise ConfigError(f"no database at {path} ({settings.database_url}); {POINT_AT_ONE}")
    store = Store(make_engine(settings.database_url))  # not runtime's: no detectors to load
    if not sqlalchemy.inspect(store.engine).has_table("anomalies"):
        store.close()
        raise ConfigError(
            f"{_shown(settings.database_url)} holds no Logwarden tables; {POINT_AT_ONE}, "
            "or run `logwarden migrate` to set this one up"
        )
    return store


def _shown(database_url: str) -> str:
    return make_url(database_url).render_as_string(hide_password=True)


def template_texts(store: Store, anomalies: Iterable[Anomaly]) -> dict[str, str]:
    """The text of each anomaly's lead template, by id (for the links' queries)."""
    ids = {a.lead_template_id for a in anomalies if a.lead_template_id}
    if not ids:
        return {}
    stmt = sqlalchemy.select(TEMPLATES.c.id, TEMPLATES.c.text).where(TEMPLATES.c.id.in_(ids))
    with store.engine.connect() as conn:
        return {row.id: row.text for row in conn.execute(stmt)}


def logs_url(a: Anomaly, texts: dict[str, str]) -> str:
    text = texts.get(a.lead_template_id) if a.lead_template_id else None
    return logs_explorer_url(a.stream, a.start_ns, a.end_ns, text)


def anomaly_json(a: Anomaly, texts: dict[str, str]) -> dict[str, Any]:
    return {
        "id": a.id,
        "start": _time(a.start_ns),
        "end": _time(a.end_ns),
        "project": a.stream.project,
        "resource_type": a.stream.resource_type,
        "service": a.stream.service,
        "type": a.anomaly_type,
        "severity": str(a.severity),
        "score": round(a.score, 4),
        "summary": a.summary,
        "status": str(a.status),
        "fingerprint": a.fingerprint,
        "logs_url": logs_url(a, texts),
        "verdict": None if a.verdict is None else msgspec.to_builtins(a.verdict),
    }


def dead_letter_json(d: DeadLetterRow) -> dict[str, Any]:
    return {
        "id": d.id,
        "reason": d.reason,
        "source": d.source,
        "detail": d.detail,
        "raw_size": d.raw_size,
        "received_at": d.received_at.isoformat(),
    }


def echo_json(rows: Iterable[dict[str, Any]]) -> None:
    """The rows as one JSON array (an empty listing is `[]`)."""
    click.echo(json.dumps(list(rows), indent=2, ensure_ascii=False))


def _time(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")
