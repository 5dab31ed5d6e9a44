"""The Google Cloud commands: `setup`, `backfill` and `tail`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from workers.clierrors import CliError

if TYPE_CHECKING:  # imported when a command runs (see workers/cli.py)
    from workers.settings import Settings

_PROJECT_HELP = "Google Cloud project id (default: LOGWARDEN_GCP__PROJECT)."


def _project(settings: Settings, project: str | None) -> str:
    chosen = project or settings.gcp.project
    if not chosen:
        raise CliError("name the Google Cloud project: --project ID or LOGWARDEN_GCP__PROJECT", 2)
    return chosen


@click.command()
@click.option("--project", help=_PROJECT_HELP)
@click.option(
    "--name", default="logwarden", show_default=True, help="Of the topic, subscription and sink."
)
@click.option(
    "--filter", "log_filter", help="Which entries the sink exports (default: all but audit logs)."
)
@click.option("--dry-run", is_flag=True, help="Print the equivalent gcloud commands only.")
@click.pass_obj
def setup(
    settings: Settings, project: str | None, name: str, log_filter: str | None, dry_run: bool
) -> None:
    """Create the Pub/Sub topic, subscription and log sink that feed Logwarden (idempotent).

    \b
    A topic and a subscription (ack deadline 60 s, 7 days' retention, a dead-letter
    topic after 10 failed deliveries), a Cloud Logging sink publishing to the topic,
    and the sink's writer identity allowed to publish. What exists is left alone.
    """
    from workers.gcp_setup import (
        DEFAULT_FILTER,
        SetupPlan,
        dead_letter_note,
        gcloud_commands,
        run_setup,
    )

    plan = SetupPlan(_project(settings, project), name, log_filter or DEFAULT_FILTER)
    if dry_run:
        click.echo("\n".join([*gcloud_commands(plan), dead_letter_note(plan)]))
        return
    results = run_setup(plan, settings)
    for result in results:
        click.echo(f"{result.outcome:<8} {result.what}")
    changed = sum(r.changed for r in results)
    click.echo(f"\n{changed} change(s); nothing else to do." if changed else "\nall in place.")
    click.echo(dead_letter_note(plan))
    click.echo(f"next: logwarden ingest --subscription {plan.subscription}")


@click.command()
@click.option("--project", help=_PROJECT_HELP)
@click.option(
    "--filter",
    "log_filter",
    default="",
    help="A Logging query, e.g. 'resource.type=\"k8s_container\" AND severity>=INFO'.",
)
@click.option(
    "--start",
    default="1d",
    show_default=True,
    help="From: a duration back from now (30m, 6h, 7d) or an RFC 3339 time.",
)
@click.option("--end", default="0s", show_default=True, help="Until (same forms; 0s is now).")
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("logwarden-backfill.json"),
    show_default=True,
    help="Where the run notes how far it got; the same command resumes from it.",
)
@click.option("--page-size", default=1000, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--save",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the entries to this file (JSON lines; .gz ok), for "
    "`logwarden eval FILE --labels ...`.",
)
@click.option(
    "--labels",
    "labels_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Once complete, score the saved entries against these incidents, as "
    "`logwarden eval` does (needs --save).",
)
@click.pass_obj
def backfill(
    settings: Settings,
    project: str | None,
    log_filter: str,
    start: str,
    end: str,
    checkpoint: Path,
    page_size: int,
    save: Path | None,
    labels_file: Path | None,
) -> None:
    """Run past entries from Cloud Logging through the pipeline (as `run` does a file)."""
    if labels_file is not None and save is None:
        raise click.UsageError("--labels scores the saved entries: add --save FILE")
    from workers.backfill import BackfillQuery
    from workers.backfill import backfill as run_backfill
    from workers.cli import _print_summary as print_summary

    query = BackfillQuery(_project(settings, project), log_filter, _when(start), _when(end))
    outcome = run_backfill(settings, query, checkpoint, page_size=page_size, save=save)
    print_summary(outcome.summary, settings)
    if outcome.stopped_by is not None:
        raise CliError(
            f"{outcome.stopped_by}; stopped after {outcome.checkpoint.entries} entries "
            f"(up to {outcome.checkpoint.after}); run the same command again to go on "
            f"from there (checkpoint {checkpoint})",
            1,
        )
    click.echo(f"backfill complete: {outcome.checkpoint.entries} entries ({checkpoint})")
    if labels_file is not None and save is not None:
        _score(settings, save, labels_file)


def _score(settings: Settings, saved: Path, labels_file: Path) -> None:
    from workers.evaluate import LabelError, evaluate, read_labels, render_table

    try:
        incidents = read_labels(labels_file)
    except LabelError as error:
        raise click.UsageError(str(error)) from None
    click.echo("")
    click.echo(render_table(evaluate(saved, incidents, settings), saved.name))


@click.command()
@click.option("--project", help=_PROJECT_HELP)
@click.option("--filter", "log_filter", default="", help="A Logging query.")
@click.option("--max-entries", type=click.IntRange(1), help="Stop after this many entries.")
@click.option("--seconds", type=click.FloatRange(0, min_open=True), help="Stop after this long.")
@click.pass_obj
def tail(
    settings: Settings,
    project: str | None,
    log_filter: str,
    max_entries: int | None,
    seconds: float | None,
) -> None:
    """Detect on live entries (Cloud Logging live tail), no sink needed; Ctrl-C stops."""
    from workers.cli import _print_summary as print_summary
    from workers.tail import tail as run_tail

    chosen = _project(settings, project)
    click.echo(f"tailing {chosen}; alerts follow (Ctrl-C stops)", err=True)
    summary = run_tail(settings, chosen, log_filter, max_entries=max_entries, seconds=seconds)
    print_summary(summary, settings)


def _when(text: str) -> str:
    """An RFC 3339 UTC time from a duration back from now, or from an RFC 3339 time."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[:-1].isdigit() and text[-1:] in units:
        at = time.time() - int(text[:-1]) * units[text[-1]]
        moment = datetime.fromtimestamp(at, UTC)
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(
                f"{text!r} is neither a duration (30m, 6h, 7d) nor an RFC 3339 time"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
