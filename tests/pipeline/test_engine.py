"""The Postgres engine's pool: a connection in steady use is not pinged, one that sat idle
is, and a connection the server dropped costs at most one failed call, with nothing
written, before the pool reconnects."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

import migrations
from pipeline.storage import BatchRecord, EntryOutcome, Outcome, Store, make_engine
from pipeline.storage import db as storage_db
from tests.conftest import ADMIN_URL

pytestmark = pytest.mark.integration


@pytest.fixture
def migrated_pg_url(pg_url: str) -> str:
    migrations.upgrade(pg_url)
    return pg_url


def counting_pings(engine: Engine) -> list[int]:
    """A list that grows by one at each ping of `engine`'s connections."""
    pings: list[int] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(1)
        return ping(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


def drop_connections(url: str) -> None:
    """What a server restart does to the pool: every connection to the database cut."""
    name = make_url(url).database
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s", (name,))
        deadline = time.monotonic() + 10
        while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                            (name,)).fetchone() != (0,):
            assert time.monotonic() < deadline, "the connections did not go"
            time.sleep(0.05)


def record(store: Store, n: int) -> None:
    outcome = EntryOutcome(f"m{n}", Outcome.PROCESSED, f"k{n}")
    store.record_batch(BatchRecord(f"b{n}", "p/k8s_container/shop", 1, 1, 0, 0, 0),
                       [], [], {}, outcomes=[outcome])


@pytest.fixture
def store(migrated_pg_url: str) -> Iterator[Store]:
    store = Store(make_engine(migrated_pg_url))
    yield store
    store.close()


def test_a_connection_in_steady_use_is_not_pinged(store: Store) -> None:
    pings = counting_pings(store.engine)
    for n in range(5):
        store.known_entries({f"m{n}"}, {f"k{n}"})
        record(store, n)
    assert pings == []
    assert store.known_entries({"m0", "m4"}, ()) == ({"m0", "m4"}, set())


def test_a_dropped_connection_fails_one_call_with_nothing_written_then_reconnects(
    store: Store, migrated_pg_url: str,
) -> None:
    record(store, 1)
    drop_connections(migrated_pg_url)
    with pytest.raises(OperationalError):  # a task retries on it
        record(store, 2)
    record(store, 2)  # the retry
    assert store.batch_recorded("b2")
    assert store.known_entries({"m1", "m2"}, ()) == ({"m1", "m2"}, set())


def test_a_connection_dropped_while_idle_is_replaced_before_use(
    migrated_pg_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(storage_db, "PING_AFTER_IDLE_S", 0.2)
    store = Store(make_engine(migrated_pg_url))
    try:
        pings = counting_pings(store.engine)
        record(store, 1)
        drop_connections(migrated_pg_url)
        time.sleep(0.3)
        record(store, 2)  # pinged, found dead, replaced: no error
        assert len(pings) == 1
        assert store.known_entries({"m1", "m2"}, ()) == ({"m1", "m2"}, set())
    finally:
        store.close()
