"""`logwarden audit`: does every entry received add up, from the database alone?

Each delivery a recorded batch counted has one outcome row (processed or duplicate),
written with the batch's ledger row; each bad input is a dead letter. The audit sums
them over a time window, checks every batch's ledger counts against its outcome rows,
and, given how many messages were published (`--expect`, from Pub/Sub's metrics),
says how many are missing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from pipeline.storage import Store


def run_audit(store: Store, since_ns: int, expected: int | None) -> int:
    """Prints the sums and whatever does not add up; returns the exit code (1: it does not)."""
    try:
        since = datetime.fromtimestamp(since_ns / 1e9, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise click.BadParameter("--since reaches before year 1") from exc
    report = store.audit(since)
    click.echo(
        f"since {since:%Y-%m-%d %H:%M:%S}Z: {report.batches} batches\n"
        f"processed     {report.processed:>9}\n"
        f"duplicates    {report.duplicates:>9}\n"
        f"dead letters  {report.dead_letters:>9}\n"
        f"total         {report.total:>9}" + (f"  (expected {expected})" if expected is not None
                                               else "")
    )
    problems = report.problems(expected)
    for problem in problems:
        click.echo(f"NOT ACCOUNTED: {problem}")
    click.echo("every entry is accounted for" if not problems
               else f"{len(problems)} problem(s): see above")
    return 1 if problems else 0
