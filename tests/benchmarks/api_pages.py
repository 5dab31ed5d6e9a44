"""Benchmark: what a tenant's page of anomalies costs Postgres, scoped by the indexed
`project` column against the same page scoped by the stream key's prefix (what the
scope was before), in one run on the same data.

    python -m tests.benchmarks.api_pages [--rows 200000] [--projects 40]

Fills a throwaway database with `rows` anomalies over `projects` projects, one of them
small (0.5 % of the rows) and one with none at all, then runs each page query of
/api/v1/anomalies under EXPLAIN ANALYZE. Prints the server's execution time (median of
9; the client and the shared machine's noise left out) and the buffers the query
touched (deterministic: the work itself), then the ratio of prefix to column.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from datetime import UTC, datetime
from random import Random

from sqlalchemy import ColumnElement, Engine, Select, insert, or_, select
from sqlalchemy.dialects import postgresql

import migrations
from pipeline.storage import make_engine
from pipeline.storage.models import ANOMALIES
from pipeline.storage.pages import PageKey, newest_first
from tests.conftest import throwaway_pg_database

TYPES = ("error_burst", "new_template", "connectivity", "volume_spike")
SEVERITIES = ("info", "warning", "critical")
COL = ANOMALIES.c


def fill(engine: Engine, rows: int, projects: int) -> None:
    rng = Random(7)
    start = 1_790_000_000 * 10**9
    now = datetime.now(UTC)
    batch = []
    for i in range(rows):
        project = "small-tenant" if rng.random() < 0.005 else f"project-{i % projects}"
        service = f"svc-{rng.randrange(8)}"
        batch.append({
            "id": f"{i:032x}", "batch_id": f"b{i // 5}", "service": service,
            "project": project, "stream": f"{project}/cloud_run_revision/{service}",
            "start_ns": start + i * 10**9, "end_ns": start + i * 10**9 + 60 * 10**9,
            "anomaly_type": rng.choice(TYPES), "severity": rng.choice(SEVERITIES),
            "score": rng.random(), "summary": "a sentence", "findings": [],
            "fingerprint": f"{i % 997:024x}", "status": "open", "created_at": now,
        })
        if len(batch) == 5000:
            _insert(engine, batch)
            batch = []
    _insert(engine, batch)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE anomalies")


def _insert(engine: Engine, rows: list[dict]) -> None:
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(ANOMALIES), rows)


Scope = Callable[[set[str]], ColumnElement[bool]]
BY_COLUMN: Scope = lambda projects: COL.project.in_(sorted(projects))  # noqa: E731
BY_PREFIX: Scope = lambda projects: or_(  # noqa: E731
    *(COL.stream.startswith(f"{p}/", autoescape=True) for p in sorted(projects)))


def page(scope: Scope, projects: set[str], *extra: ColumnElement[bool],
         after: PageKey | None = None) -> Select:
    stmt = select(ANOMALIES).where(scope(projects), *extra)
    return newest_first(stmt, COL.start_ns, COL.id, 50, after)


def explain(engine: Engine, stmt: Select) -> tuple[float, int]:
    """Median server execution ms of 9 runs, and the buffers one run touched."""
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    times, blocks = [], 0
    with engine.connect() as conn:
        for _ in range(10):
            (plan,) = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}").one()
            top = (plan if isinstance(plan, list) else json.loads(plan))[0]
            times.append(top["Execution Time"])
            blocks = top["Plan"]["Shared Hit Blocks"] + top["Plan"]["Shared Read Blocks"]
    return statistics.median(times[1:]), blocks


def cases(rows: int) -> dict[str, Callable[[Scope], Select]]:
    deep = PageKey(1_790_000_000 * 10**9 + rows * 10**9 // 2, "")
    return {
        "large tenant (2.5 %), first page": lambda s: page(s, {"project-1"}),
        "small tenant (0.5 %), first page": lambda s: page(s, {"small-tenant"}),
        "small tenant, half-way down": lambda s: page(s, {"small-tenant"}, after=deep),
        "small tenant, critical only": lambda s: page(
            s, {"small-tenant"}, COL.severity == "critical"),
        "tenant with no anomalies": lambda s: page(s, {"quiet-tenant"}),
        "token of 3 projects": lambda s: page(s, {"small-tenant", "project-1", "project-2"}),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--projects", type=int, default=40)
    args = parser.parse_args()
    with throwaway_pg_database() as url:
        migrations.upgrade(url)
        engine = make_engine(url)
        fill(engine, args.rows, args.projects)
        print(f"{args.rows:,} anomalies, {args.projects} projects, 50 per page; "
              "server ms (median of 9) and buffers touched")
        print(f"  {'':34} {'prefix (before)':>22} {'project column':>22}  ratio")
        for name, build in cases(args.rows).items():
            before_ms, before_blocks = explain(engine, build(BY_PREFIX))
            after_ms, after_blocks = explain(engine, build(BY_COLUMN))
            print(f"  {name:<34} {before_ms:9.2f} ms {before_blocks:7} bl "
                  f"{after_ms:9.2f} ms {after_blocks:7} bl  {before_ms / after_ms:6.1f}x")
        engine.dispose()


if __name__ == "__main__":
    main()
