"""The tables. Migrations (`migrations/versions`) create exactly this; a test compares them.

Each table lists its columns in the order the migrations leave them (a column a later
migration added comes last): a new SQLite database is created from these models
(`migrations.create_at_head`), column for column the same as a migrated one.

Times of log events are nanoseconds since the epoch (BigInteger), as everywhere in the
pipeline; times of our own bookkeeping are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite rowid aliases must be spelled INTEGER to autoincrement.
AUTO_ID = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on both dialects (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass a timezone-aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON(), int: Integer()}


class ProcessedBatch(Base):
    """The ledger: one row per batch ever recorded, which makes recording idempotent."""

    __tablename__ = "processed_batches"
    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(String(512))
    entries: Mapped[int]
    processed: Mapped[int]
    duplicates: Mapped[int]
    start_ns: Mapped[int] = mapped_column(BigInteger)
    end_ns: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(index=True)  # pruned by age


class EntryOutcomeRecord(Base):
    """Every delivery a recorded batch counted, once: how the sum is checked, how a
    regrouped redelivery is recognised, and (unique `insert_key`) where duplicates are."""

    __tablename__ = "entry_outcomes"
    # By age on Postgres only: SQLite finds a window's rows through the ledger's batches
    # (`accounting.audit`), and an index fewer is a B-tree fewer written for every entry.
    __table_args__ = (Index("ix_entry_outcomes_created_at", "created_at")
                      .ddl_if(dialect="postgresql"),)
    delivery_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    insert_key: Mapped[str | None] = mapped_column(String(640), unique=True)
    created_at: Mapped[datetime]


class DeadLetter(Base):
    __tablename__ = "dead_letters"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(64), index=True)
    detail: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(512), index=True)  # a failed batch: batch:<id>#i
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    raw_size: Mapped[int]
    received_at: Mapped[datetime] = mapped_column(index=True)


class Template(Base):
    __tablename__ = "templates"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(BigInteger)
    first_seen_ns: Mapped[int] = mapped_column(BigInteger)
    last_seen_ns: Mapped[int] = mapped_column(BigInteger)


class TemplateLineage(Base):
    """A template id that was generalized, and the id it became."""

    __tablename__ = "template_lineage"
    old_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    new_id: Mapped[str] = mapped_column(String(128), index=True)


class AnomalyRecord(Base):
    __tablename__ = "anomalies"
    __table_args__ = (
        Index(None, "service", "start_ns"),
        Index(None, "severity", "start_ns"),
        Index(None, "project", "start_ns"),  # a tenant's pages (the API's scope)
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(64), index=True)
    stream: Mapped[str] = mapped_column(String(512))
    service: Mapped[str] = mapped_column(String(256))
    start_ns: Mapped[int] = mapped_column(BigInteger, index=True)
    end_ns: Mapped[int] = mapped_column(BigInteger)
    anomaly_type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Double)
    summary: Mapped[str] = mapped_column(Text)
    findings: Mapped[list[Any]] = mapped_column(JSON)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    lead_template_id: Mapped[str | None] = mapped_column(String(128))
    verdict: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    status: Mapped[str] = mapped_column(String(16))
    alert_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("alerts.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime]
    samples: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))  # redacted lines
    project: Mapped[str] = mapped_column(String(256))  # the stream key's first part


OPEN_INCIDENT = text("status <> 'resolved'")


class AlertRecord(Base):
    """An incident: the anomalies of one group key (a stream or a service) that kept
    coming without a quiet period between them. At most one is open per key (the
    partial unique index), so concurrent workers fold into the same one."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("uq_alerts_open_group_key", "group_key", unique=True,
              postgresql_where=OPEN_INCIDENT, sqlite_where=OPEN_INCIDENT),
        Index(None, "service", "status"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))  # of the anomaly that opened it
    status: Mapped[str] = mapped_column(String(16), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)  # the latest anomaly's sentence
    stream: Mapped[str] = mapped_column(String(512))
    anomaly_type: Mapped[str] = mapped_column(String(64))  # of the worst anomaly
    first_seen_ns: Mapped[int] = mapped_column(BigInteger)
    last_seen_ns: Mapped[int] = mapped_column(BigInteger, index=True)
    anomaly_count: Mapped[int]
    group_key: Mapped[str] = mapped_column(String(640))
    project: Mapped[str] = mapped_column(String(256), index=True)
    service: Mapped[str] = mapped_column(String(256))
    anomaly_types: Mapped[list[Any]] = mapped_column(JSON)
    details: Mapped[list[Any]] = mapped_column(JSON)  # latest evidence, one line each
    samples: Mapped[list[Any]] = mapped_column(JSON)  # up to 3 real lines, redacted
    revision: Mapped[int]  # of its latest message; every message takes the next one
    lead_template_id: Mapped[str | None] = mapped_column(String(128))
    opened_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(256))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(256))
    # When an anomaly last joined it, by the store's clock (log time in a replay).
    active_at: Mapped[datetime]


class OutboxRecord(Base):
    """One message of an incident for one receiver; its content is rendered from the
    incident when it is sent. Per (incident, receiver) they go out in revision order."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("alert_id", "channel", "revision"),
        Index(None, "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(64), ForeignKey("alerts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(64))  # the receiver's name
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]  # extras over the incident's state (a review's text)
    created_at: Mapped[datetime]
    # Set by the sender that claimed the message, cleared when it records the outcome.
    claimed_until: Mapped[datetime | None]
    # firing, update, acknowledged, resolved, review (the LLM's verdict followed up)
    kind: Mapped[str] = mapped_column(String(16), default="firing", server_default="firing")
    revision: Mapped[int] = mapped_column(default=1, server_default=text("1"))
    # What the receiver returned for this message (a Slack ts, a Message-ID): later
    # messages of the incident to the same receiver thread under it.
    thread_ref: Mapped[str | None] = mapped_column(String(512))


class DeliveryRecord(Base):
    """Every delivery attempt, successful or not."""

    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(
        AUTO_ID, ForeignKey("outbox.id", ondelete="CASCADE"), index=True
    )
    alert_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class LlmCallRecord(Base):
    """Every escalation to the LLM (and every one refused for budget): cost and result."""

    __tablename__ = "llm_calls"
    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    anomaly_id: Mapped[str] = mapped_column(String(64), index=True)
    alert_id: Mapped[str | None] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    model: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(32))
    prompt_tokens: Mapped[int]
    output_tokens: Mapped[int]
    latency_s: Mapped[float] = mapped_column(Double)
    cost_usd: Mapped[float] = mapped_column(Double)
    error: Mapped[str | None] = mapped_column(Text)
    verdict: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(index=True)


class SilenceRecord(Base):
    """Mutes the incidents its matchers all match, from `starts_at` to `ends_at`."""

    __tablename__ = "silences"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    matchers: Mapped[list[Any]] = mapped_column(JSON)  # [{name, value, regex}]
    project: Mapped[str | None] = mapped_column(String(256), index=True)  # its tenant
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    author: Mapped[str] = mapped_column(String(256))
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class FeedbackRecord(Base):
    """Someone's word on an incident: "expected" or "false_positive". While it holds it
    suppresses new anomalies of its template on its stream; eval and detectors read it."""

    __tablename__ = "feedback"
    __table_args__ = (Index(None, "stream", "template_id"),)
    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    alert_id: Mapped[str | None] = mapped_column(String(64), index=True)
    stream: Mapped[str] = mapped_column(String(512))
    template_id: Mapped[str | None] = mapped_column(String(128))
    anomaly_type: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(32))
    author: Mapped[str] = mapped_column(String(256))
    comment: Mapped[str] = mapped_column(Text)
    suppress: Mapped[bool] = mapped_column(Boolean)
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


# The same tables as Core objects, for the store's INSERT ... ON CONFLICT statements.
LEDGER = Base.metadata.tables[ProcessedBatch.__tablename__]
DEAD_LETTERS = Base.metadata.tables[DeadLetter.__tablename__]
OUTCOMES = Base.metadata.tables[EntryOutcomeRecord.__tablename__]
TEMPLATES = Base.metadata.tables[Template.__tablename__]
LINEAGE = Base.metadata.tables[TemplateLineage.__tablename__]
ANOMALIES = Base.metadata.tables[AnomalyRecord.__tablename__]
ALERTS = Base.metadata.tables[AlertRecord.__tablename__]
OUTBOX = Base.metadata.tables[OutboxRecord.__tablename__]
DELIVERIES = Base.metadata.tables[DeliveryRecord.__tablename__]
LLM_CALLS = Base.metadata.tables[LlmCallRecord.__tablename__]
SILENCES = Base.metadata.tables[SilenceRecord.__tablename__]
FEEDBACK = Base.metadata.tables[FeedbackRecord.__tablename__]


def made_on(item: object, dialect: str) -> bool:
    """Whether the models create `item` (an index, a constraint) on `dialect`: one marked
    `ddl_if(dialect=...)` exists on that dialect only. Alembic's comparison of the models
    with a database does not read the mark; its `include_object` asks this."""
    only = getattr(item, "_ddl_if", None)
    return only is None or only.dialect is None or only.dialect == dialect
