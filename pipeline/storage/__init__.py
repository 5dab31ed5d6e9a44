"""Storage: the tables, the engine and the `Store` repository (SQLite or Postgres)."""

from pipeline.storage.accounting import Audit, EntriesCountedMeanwhile
from pipeline.storage.db import make_engine, normalize_url
from pipeline.storage.models import METADATA
from pipeline.storage.records import (
    MAX_RAW_BYTES,
    BatchRecord,
    BatchResult,
    DeadLetterRow,
    DeliveryAttempt,
    EntryOutcome,
    OutboxItem,
    OutboxStatus,
    Outcome,
    StoredAlert,
    TemplateRow,
    Totals,
)
from pipeline.storage.repository import Store

__all__ = [
    "MAX_RAW_BYTES",
    "METADATA",
    "Audit",
    "BatchRecord",
    "BatchResult",
    "DeadLetterRow",
    "DeliveryAttempt",
    "EntriesCountedMeanwhile",
    "EntryOutcome",
    "OutboxItem",
    "OutboxStatus",
    "Outcome",
    "Store",
    "StoredAlert",
    "TemplateRow",
    "Totals",
    "make_engine",
    "normalize_url",
]
