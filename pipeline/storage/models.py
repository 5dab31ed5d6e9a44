"""The tables. Migrations (`migrations/versions`) create exactly this; a test compares them.

Each table lists its columns in the order the migrations leave them (a column a later
migration added comes last): a new SQLite database is created from these definitions
(`migrations.create_at_head`), column for column the same as a migrated one. The store
reads and writes them with SQLAlchemy Core statements; no ORM mapping (the ORM would add
about a quarter of a second of imports and class building to every start-up).

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
    Column,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.sql.base import _DialectArgDict
from sqlalchemy.sql.elements import TextClause
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


METADATA = MetaData(naming_convention=NAMING)


class PartialIndex(Index):
    """An index of the rows `where` holds, on SQLite and Postgres alike: the index
    `Index(name, *columns, postgresql_where=where, sqlite_where=where)` declares. Its WHERE
    joins a dialect's options when that dialect first reads them, not at the declaration:
    SQLAlchemy checks a `postgresql_` keyword by importing its Postgres dialect, which
    brings every driver of it along, 20 ms of every SQLite process's start. (A test
    compares the DDL of both on both dialects.)"""

    WHERE_ON = ("postgresql", "sqlite")

    def __init__(self, name: str, *columns: str, where: TextClause, unique: bool = False) -> None:
        self.where = where
        super().__init__(name, *columns, unique=unique)

    def _kw_reg_for_dialect_cls(self, dialect_name: str) -> _DialectArgDict:  # type: ignore[override]
        """A dialect's options of this index, with the WHERE: SQLAlchemy builds them here
        when the dialect first reads them."""
        options = super()._kw_reg_for_dialect_cls(dialect_name)
        if dialect_name in self.WHERE_ON:
            options["where"] = self.where
        return options


def _required(name: str, kind: Any, *args: Any, **kwargs: Any) -> Column[Any]:
    """A NOT NULL column (a nullable one is a plain `Column`)."""
    return Column(name, kind, *args, nullable=False, **kwargs)


def _time(name: str, *, nullable: bool = False, index: bool | None = None) -> Column[datetime]:
    """An aware UTC datetime column (not null unless said)."""
    return Column(name, UtcDateTime(), nullable=nullable, index=index)


def _identifier(length: int) -> String:
    """An opaque id, compared byte by byte on Postgres (SQLite always does). Each entry is
    looked up and indexed by two of these; under a language's collation (en_US, ICU: what
    managed Postgres databases are often created with) every comparison in their B-trees
    is a locale-aware one, which took two fifths of the ledger's Postgres CPU."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


# The ledger: one row per batch ever recorded, which makes recording idempotent.
LEDGER = Table(
    "processed_batches", METADATA,
    Column("batch_id", _identifier(64), primary_key=True),
    _required("stream", String(512)),
    _required("entries", Integer()),
    _required("processed", Integer()),
    _required("duplicates", Integer()),
    _required("start_ns", BigInteger),
    _required("end_ns", BigInteger),
    _time("created_at", index=True),  # pruned by age
    # SQLite only: the rowids of the batch's first and last outcome rows. Written in the
    # batch's transaction, which holds the database's write lock, they are consecutive;
    # the audit and the pruning find a batch's rows by this range instead of an index of
    # their batch, a B-tree fewer written for every entry. NULL on Postgres (which keeps
    # that index) and for a batch without outcome rows.
    Column("first_outcome_row", BigInteger),
    Column("last_outcome_row", BigInteger),
)

# Every delivery a recorded batch counted, once: how the sum is checked, how a regrouped
# redelivery is recognised, and (unique `insert_key`) where duplicates are.
OUTCOMES = Table(
    "entry_outcomes", METADATA,
    Column("delivery_id", _identifier(256), primary_key=True),
    _required("batch_id", _identifier(64)),
    _required("outcome", String(16)),
    Column("insert_key", _identifier(640), unique=True),
    _time("created_at"),
    # By age on Postgres only: SQLite finds a window's rows through the ledger's batches
    # (`accounting.audit`), and an index fewer is a B-tree fewer written for every entry.
    Index("ix_entry_outcomes_created_at", "created_at").ddl_if(dialect="postgresql"),
    # By batch on Postgres only: SQLite finds a batch's rows by the ledger's range of them.
    Index("ix_entry_outcomes_batch_id", "batch_id").ddl_if(dialect="postgresql"),
)

DEAD_LETTERS = Table(
    "dead_letters", METADATA,
    Column("id", String(64), primary_key=True),
    _required("reason", String(64), index=True),
    _required("detail", Text),
    _required("source", String(512), index=True),  # a failed batch: batch:<id>#i
    _required("raw", LargeBinary),
    _required("raw_size", Integer()),
    _time("received_at", index=True),
)

TEMPLATES = Table(
    "templates", METADATA,
    Column("id", String(128), primary_key=True),
    _required("text", Text),
    _required("count", BigInteger),
    _required("first_seen_ns", BigInteger),
    _required("last_seen_ns", BigInteger),
)

# A template id that was generalized, and the id it became.
LINEAGE = Table(
    "template_lineage", METADATA,
    Column("old_id", String(128), primary_key=True),
    _required("new_id", String(128), index=True),
)

ANOMALIES = Table(
    "anomalies", METADATA,
    Column("id", String(64), primary_key=True),
    _required("batch_id", String(64), index=True),
    _required("stream", String(512)),
    _required("service", String(256)),
    _required("start_ns", BigInteger, index=True),
    _required("end_ns", BigInteger),
    _required("anomaly_type", String(64)),
    _required("severity", String(16)),
    _required("score", Double),
    _required("summary", Text),
    _required("findings", JSON),
    _required("fingerprint", String(64), index=True),
    Column("lead_template_id", String(128)),
    Column("verdict", JSON(none_as_null=True)),
    _required("status", String(16)),
    Column("alert_id", String(64), ForeignKey("alerts.id", ondelete="SET NULL"), index=True),
    _time("created_at"),
    Column("samples", JSON(none_as_null=True)),  # redacted lines
    _required("project", String(256)),  # the stream key's first part
    Index(None, "service", "start_ns"),
    Index(None, "severity", "start_ns"),
    Index(None, "project", "start_ns"),  # a tenant's pages (the API's scope)
)

OPEN_INCIDENT = text("status <> 'resolved'")

# An incident: the anomalies of one group key (a stream or a service) that kept coming
# without a quiet period between them. At most one is open per key (the partial unique
# index), so concurrent workers fold into the same one.
ALERTS = Table(
    "alerts", METADATA,
    Column("id", String(64), primary_key=True),
    _required("fingerprint", String(64)),  # of the anomaly that opened it
    _required("status", String(16), index=True),
    _required("severity", String(16)),
    _required("title", Text),
    _required("summary", Text),  # the latest anomaly's sentence
    _required("stream", String(512)),
    _required("anomaly_type", String(64)),  # of the worst anomaly
    _required("first_seen_ns", BigInteger),
    _required("last_seen_ns", BigInteger, index=True),
    _required("anomaly_count", Integer()),
    _required("group_key", String(640)),
    _required("project", String(256), index=True),
    _required("service", String(256)),
    _required("anomaly_types", JSON),
    _required("details", JSON),  # latest evidence, one line each
    _required("samples", JSON),  # up to 3 real lines, redacted
    _required("revision", Integer()),  # of its latest message; every message takes the next
    Column("lead_template_id", String(128)),
    _time("opened_at"),
    _time("acknowledged_at", nullable=True),
    Column("acknowledged_by", String(256)),
    _time("resolved_at", nullable=True),
    Column("resolved_by", String(256)),
    # When an anomaly last joined it, by the store's clock (log time in a replay).
    _time("active_at"),
    PartialIndex("uq_alerts_open_group_key", "group_key", unique=True, where=OPEN_INCIDENT),
    Index(None, "service", "status"),
)

# One message of an incident for one receiver; its content is rendered from the incident
# when it is sent. Per (incident, receiver) they go out in revision order.
OUTBOX = Table(
    "outbox", METADATA,
    Column("id", AUTO_ID, primary_key=True, autoincrement=True),
    _required("alert_id", String(64), ForeignKey("alerts.id", ondelete="CASCADE")),
    _required("channel", String(64)),  # the receiver's name
    _required("status", String(16)),
    _required("attempts", Integer()),
    _time("next_attempt_at"),
    Column("last_error", Text),
    _required("payload", JSON()),  # extras over the incident's state (a review's text)
    _time("created_at"),
    # Set by the sender that claimed the message, cleared when it records the outcome.
    _time("claimed_until", nullable=True),
    # firing, update, acknowledged, resolved, review (the LLM's verdict followed up)
    _required("kind", String(16), default="firing", server_default="firing"),
    _required("revision", Integer(), default=1, server_default=text("1")),
    # What the receiver returned for this message (a Slack ts, a Message-ID): later
    # messages of the incident to the same receiver thread under it.
    Column("thread_ref", String(512)),
    UniqueConstraint("alert_id", "channel", "revision"),
    Index(None, "status", "next_attempt_at"),
)

# Every delivery attempt, successful or not.
DELIVERIES = Table(
    "deliveries", METADATA,
    Column("id", AUTO_ID, primary_key=True, autoincrement=True),
    _required("outbox_id", AUTO_ID, ForeignKey("outbox.id", ondelete="CASCADE"), index=True),
    _required("alert_id", String(64), ForeignKey("alerts.id", ondelete="CASCADE"), index=True),
    _required("channel", String(64)),
    _required("attempt", Integer()),
    _required("status", String(16), index=True),
    Column("error", Text),
    _time("created_at"),
)

# Every escalation to the LLM (and every one refused for budget): cost and result.
LLM_CALLS = Table(
    "llm_calls", METADATA,
    Column("id", AUTO_ID, primary_key=True, autoincrement=True),
    _required("anomaly_id", String(64), index=True),
    Column("alert_id", String(64)),
    _required("fingerprint", String(64), index=True),
    _required("model", String(128)),
    _required("outcome", String(32)),
    _required("prompt_tokens", Integer()),
    _required("output_tokens", Integer()),
    _required("latency_s", Double),
    _required("cost_usd", Double),
    Column("error", Text),
    Column("verdict", JSON(none_as_null=True)),
    _time("created_at", index=True),
)

# Mutes the incidents its matchers all match, from `starts_at` to `ends_at`.
SILENCES = Table(
    "silences", METADATA,
    Column("id", String(32), primary_key=True),
    _required("matchers", JSON),  # [{name, value, regex}]
    Column("project", String(256), index=True),  # its tenant
    _time("starts_at"),
    _time("ends_at", index=True),
    _required("author", String(256)),
    _required("comment", Text),
    _time("created_at"),
)

# Someone's word on an incident: "expected" or "false_positive". While it holds it
# suppresses new anomalies of its template on its stream; eval and detectors read it.
FEEDBACK = Table(
    "feedback", METADATA,
    Column("id", AUTO_ID, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), index=True),
    _required("stream", String(512)),
    Column("template_id", String(128)),
    _required("anomaly_type", String(64)),
    _required("label", String(32)),
    _required("author", String(256)),
    _required("comment", Text),
    _required("suppress", Boolean),
    _time("expires_at", nullable=True),
    _time("created_at"),
    Index(None, "stream", "template_id"),
)


def made_on(item: object, dialect: str) -> bool:
    """Whether the models create `item` (an index, a constraint) on `dialect`: one marked
    `ddl_if(dialect=...)` exists on that dialect only. Alembic's comparison of the models
    with a database does not read the mark; its `include_object` asks this."""
    only = getattr(item, "_ddl_if", None)
    return only is None or only.dialect is None or only.dialect == dialect
