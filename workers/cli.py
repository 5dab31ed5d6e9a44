"""The `logwarden` command."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from workers import imports_for_good

with imports_for_good():
    import click

    from workers.clierrors import USAGE, CliError, LogwardenGroup
    from workers.gcp_cli import backfill, setup, tail
    from workers.incident_cli import COMMANDS as INCIDENT_COMMANDS
    from workers.timespec import since_ns

# Each command imports what it uses when it runs: `logwarden --help` must not pay for the
# settings, nor `templates` for Alembic, the storage layer or the Google Cloud clients.
if TYPE_CHECKING:
    from pipeline.storage import Store
    from workers.embedded import RunSummary
    from workers.settings import Settings


@click.group(cls=LogwardenGroup)
@click.version_option(package_name="logwarden", prog_name="logwarden")
@click.option("--db", "database_url", help="Database URL (default: LOGWARDEN_DATABASE_URL).")
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """Logwarden: streaming log anomaly detection with alerts that explain themselves."""
    with imports_for_good():
        from workers.envcheck import warnings_for
        from workers.settings import Settings

    for warning in warnings_for(os.environ, Settings):
        click.echo(warning, err=True)
    ctx.obj = Settings(database_url=database_url) if database_url else Settings()


for _command in (setup, backfill, tail):  # Google Cloud: workers/gcp_cli.py
    main.add_command(_command)
for _command in INCIDENT_COMMANDS:  # incidents, ack, resolve, silence, feedback
    main.add_command(_command)


@main.command()
@click.option("--from", "source", type=click.Path(exists=True, allow_dash=True, dir_okay=False),
              help="A file or - for stdin: JSON lines, a JSON array (gcloud logging read "
                   "--format=json), plain text, gzipped or not. Default: the bundled sample.")
@click.option("--service", default="", help="Service name for plain-text lines.")
@click.option("--llm", is_flag=True,
              help="Escalate suspicious anomalies to Gemini (needs LOGWARDEN_LLM__API_KEY).")
@click.pass_obj
def run(settings: Settings, source: str | None, service: str, llm: bool) -> None:
    """Run embedded (no servers): replay logs, detect, store, alert."""
    from workers.embedded import run_embedded
    from workers.preflight import check_run_settings

    check_run_settings(settings)
    if source is None:
        _run_demo(settings, service, llm)
        return
    if source == "-":
        summary = run_embedded(sys.stdin.buffer, source_name="stdin", settings=settings,
                               service=service, llm=llm)
    else:
        summary = _replay(settings, Path(source), service, llm)
    _print_summary(summary, settings)


def _run_demo(settings: Settings, service: str, llm: bool = False) -> None:
    """The bundled sample, then how its alerts match the incidents planted in it."""
    from workers import sample

    # The demo starts from an empty database so every run shows the same thing.
    if "database_url" not in settings.model_fields_set:
        demo_db = Path(tempfile.mkdtemp(prefix="logwarden-")) / "demo.db"
        settings = settings.model_copy(update={"database_url": f"sqlite:///{demo_db}"})
    path = sample.sample_path()
    click.echo(f"Replaying the bundled sample ({path.name}); alerts follow.\n", err=True)
    _print_summary(_replay(settings, path, service, llm), settings)
    _print_scorecard(settings)
    click.echo(f"\nlook closer: logwarden --db {settings.database_url} anomalies")


def _replay(settings: Settings, path: Path, service: str, llm: bool = False) -> RunSummary:
    from workers.embedded import run_embedded

    # Opened as bytes whatever the name says: the content decides the format (gzip too).
    with path.open("rb") as stream:
        return run_embedded(stream, source_name=path.name.split(".")[0], settings=settings,
                            service=service, size_hint=path.stat().st_size, llm=llm)


def _print_scorecard(settings: Settings) -> None:
    """The demo's proof: each incident planted in the sample, and what it raised."""
    from workers import sample
    from workers.runtime import build_store

    incidents = sample.load_truth()
    store = build_store(settings)
    try:
        card = sample.score_alerts(incidents, store.alerts(limit=10_000))
    finally:
        store.close()
    lines = ["", f"the sample's {len(incidents)} incidents (workers/sample/truth.json):"]
    for incident in incidents:
        kinds = card.found[incident.id]
        verdict = "found " if kinds else "MISSED"
        raised = ", ".join(sorted(set(kinds))) or "no alert"
        lines.append(f"  {verdict} {incident.kind:<20} {incident.service:<15} "
                     f"{incident.start:%H:%M}  {raised}")
    others = ", ".join(f"{service} {kind}" for service, kind in card.other) or "none"
    lines.append(f"incidents the sample did not plant: {len(card.other)} ({others})")
    click.echo("\n".join(lines))


def _print_summary(s: RunSummary, settings: Settings) -> None:
    from observability.logging import mask_url

    rate = s.entries / s.seconds if s.seconds else 0.0
    lines = [
        "",
        f"input       {s.input_kind}",
        f"entries     {s.entries:>8}  ({rate:,.0f}/s over {s.seconds:.1f}s)",
        f"processed   {s.processed:>8}",
        f"duplicates  {s.duplicates:>8}",
        f"dead letters{sum(s.dead_letters.values()):>8}  {_counts(s.dead_letters)}",
        f"batches     {s.batches:>8}" + (f"  ({s.already_recorded} already recorded)"
                                         if s.already_recorded else ""),
        f"templates   {s.templates:>8}",
        f"anomalies   {sum(s.anomalies.values()):>8}  {_counts(s.anomalies)}",
        f"incidents   {s.alerts:>8}  resolved {s.resolved}, deliveries: {_counts(s.deliveries)}",
        f"all entries accounted for: {'yes' if s.accounted else 'NO'}",
        f"database: {mask_url(settings.database_url)}",
    ]
    if s.llm is not None:
        from workers.escalation import usage_lines

        lines[-1:-1] = usage_lines(s.llm, entries=s.entries, batches=s.batches)
    click.echo("\n".join(lines))


def _counts(counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common() if v) or "-"


@main.command()
@click.option("--service", help="Only this service.")
@click.option("--severity", type=click.Choice(["info", "warning", "critical"]))
@click.option("--since", help="Only newer: a duration like 2h / 30m / 7d, or an RFC 3339 time.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (with logs_url).")
@click.option("--links", is_flag=True, help="Also print each anomaly's Logs Explorer URL.")
@click.pass_obj
def anomalies(settings: Settings, service: str | None, severity: str | None,
              since: str | None, limit: int, as_json: bool, links: bool) -> None:
    """List stored anomalies, newest first."""
    from workers.escalation import verdict_line
    from workers.listing import (
        anomaly_json,
        echo_json,
        logs_url,
        open_existing_store,
        template_texts,
    )

    since_ns = _since_ns(since) if since else None
    store = open_existing_store(settings)
    found = store.anomalies(service=service, severity=severity, since_ns=since_ns, limit=limit)
    texts = template_texts(store, found) if as_json or links else {}
    if as_json:
        echo_json(anomaly_json(a, texts) for a in found)
        return
    for a in found:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(a.start_ns / 1e9))
        click.echo(f"{when}Z  {a.severity:<8}  {a.stream.service:<16}  {a.anomaly_type:<18} "
                   f"{a.score:.2f}  {a.summary}")
        if a.verdict is not None:
            click.echo(f"{'':22}{verdict_line(a.verdict)}")
        if links:
            click.echo(f"{'':22}{logs_url(a, texts)}")


@main.command("llm-usage")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 366))
@click.pass_obj
def llm_usage_command(settings: Settings, days: int) -> None:
    """LLM escalations per UTC day: calls by outcome, tokens and estimated cost."""
    from pipeline.storage.reviews import ReviewStore
    from workers.escalation import daily_usage_lines
    from workers.listing import open_existing_store

    store = open_existing_store(settings)
    for line in daily_usage_lines(ReviewStore(store.engine).daily_usage(days)):
        click.echo(line)


@main.command("dead-letters")
@click.option("--reason", help="Only this reason code.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--replay", is_flag=True,
              help="Process the batches that failed for good (processing_failed) again.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def dead_letters(settings: Settings, reason: str | None, limit: int, replay: bool,
                 as_json: bool) -> None:
    """List stored dead letters with their reason, or replay the failed batches."""
    from workers.listing import dead_letter_json, echo_json, open_existing_store

    store = open_existing_store(settings)
    if replay:
        _replay_failed(settings, store)
        return
    if as_json:
        echo_json(dead_letter_json(d) for d in store.dead_letters(reason=reason, limit=limit))
        return
    for d in store.dead_letters(reason=reason, limit=limit):
        click.echo(f"{d.reason:<16} {d.source:<28} {d.detail}")


def _replay_failed(settings: Settings, store: Store) -> None:
    from pipeline.state import InMemoryStateStore
    from workers.replay import replay_failed_batches
    from workers.runtime import build_fleet_processor, build_processor

    # On SQLite this is an embedded database; otherwise a fleet's, with state in Redis.
    if store.engine.dialect.name == "sqlite":
        processor = build_processor(settings, InMemoryStateStore(), store)
    else:
        processor = build_fleet_processor(settings, store)
    report = replay_failed_batches(store, processor)
    click.echo(f"replayed {report.batches} batches ({report.entries} entries); "
               f"{report.failed} failed again; {report.unreadable} letters not replayable")
    if report.failed:
        raise SystemExit(1)


@main.command()
@click.option("--revision", default="head", show_default=True)
@click.pass_obj
def migrate(settings: Settings, revision: str) -> None:
    """Bring the database schema up to date (Alembic)."""
    from alembic.util import CommandError

    import migrations
    from observability.logging import mask_url

    try:
        migrations.upgrade(settings.database_url, revision)
    except CommandError as exc:  # a revision that does not exist
        raise CliError(f"--revision: {exc}", USAGE) from None
    click.echo(f"migrated {mask_url(settings.database_url)} to {revision}")


@main.command()
@click.argument("file", type=click.Path(exists=True, allow_dash=True, dir_okay=False))
@click.option("--service", default="", help="Service name for plain-text lines.")
@click.option("--json", "as_json", is_flag=True, help="Print the templates as JSON.")
@click.option("--per-line", type=click.Path(dir_okay=False, writable=True),
              help="Write each line's template id, in input order, to this CSV.")
@click.pass_obj
def templates(settings: Settings, file: str, service: str, as_json: bool,
              per_line: str | None) -> None:
    """Mine FILE (any input `run` takes, gzip ok, - for stdin) and list its templates.

    Prints each template with its count and first and last seen time, most frequent
    first. Nothing is stored.
    """
    from pipeline.parsing import InputError
    from workers import template_report as report_

    name = "stdin" if file == "-" else Path(file).name.split(".")[0]
    try:
        with (sys.stdin.buffer if file == "-" else open(file, "rb")) as raw:
            report = report_.mine_file(raw, source_name=name, service=service,
                                       max_templates=settings.template_capacity)
    except InputError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(report_.to_json(report) if as_json else report_.render_table(report))
    if per_line:
        with open(per_line, "w", newline="", encoding="utf-8") as out:
            report_.write_per_line(report, out)


def _since_ns(text: str) -> int:
    try:
        return since_ns(text, time.time_ns())
    except ValueError as exc:
        raise CliError(f"--since: {exc}", USAGE) from None


@main.command()
@click.option("--since", default="1h", show_default=True,
              help="The window: a duration like 1h / 30m / 7d, or an RFC 3339 time.")
@click.option("--expect", type=click.IntRange(min=0),
              help="Messages published in that window (from Pub/Sub's metrics): the sum "
                   "must equal it.")
@click.pass_obj
def audit(settings: Settings, since: str, expect: int | None) -> None:
    """Check that every entry received is processed, a duplicate or a dead letter.

    Sums them from the database, checks each batch's ledger against its entries, and
    exits 1 naming what is missing when it does not add up."""
    from workers.audit import run_audit
    from workers.listing import open_existing_store

    raise SystemExit(run_audit(open_existing_store(settings), _since_ns(since), expect))


@main.command()
@click.option("--subscription", required=True, help="projects/P/subscriptions/S")
@click.pass_obj
def ingest(settings: Settings, subscription: str) -> None:
    """Pull a Pub/Sub subscription into batches for the workers (stops cleanly on SIGTERM)."""
    from workers.fleet import run_ingest

    run_ingest(settings, subscription)


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8080, show_default=True)
@click.pass_obj
def push(settings: Settings, host: str, port: int) -> None:
    """Serve POST /pubsub/push for push subscriptions, and the HTTP API (/api/v1).

    The API is on when LOGWARDEN_API__TOKENS holds a token (see `logwarden api-token`)."""
    from workers.fleet import run_push

    run_push(settings, host, port)


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8080, show_default=True)
@click.pass_obj
def api(settings: Settings, host: str, port: int) -> None:
    """Serve the HTTP API (/api/v1) alone, without the push endpoint."""
    from workers.fleet import run_api

    run_api(settings, host, port)


@main.command("api-token")
@click.option("--name", required=True, help="What the token is for; shown in audit lines.")
@click.option("--project", "projects", multiple=True, required=True,
              help="A Google Cloud project it may see (repeat for more; * for every one).")
@click.option("--write", is_flag=True, help="May acknowledge, resolve, give feedback, silence.")
def api_token(name: str, projects: tuple[str, ...], write: bool) -> None:
    """Make a random API token; print it once, and its settings entry (hash only)."""
    import json

    from workers.api import new_token

    token, digest = new_token()
    entry = {"name": name, "token_sha256": digest, "projects": list(projects),
             "access": "write" if write else "read"}
    click.echo(f"token (give it to the client; it is not stored): {token}")
    click.echo(f"settings entry, in LOGWARDEN_API__TOKENS (a JSON list) or api.tokens:\n"
               f"{json.dumps(entry)}")


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--concurrency", "-c", type=click.IntRange(1, 512),
              help="Worker processes (default: cores).")
@click.option("--queues", "-Q", default="detect,llm", show_default=True,
              help="Comma-separated, from: detect, llm, notify.")
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(concurrency: int | None, queues: str, celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker (prefork) on the given queues.

    \b
    By default it detects (queues detect and llm). Alerts are sent by workers of their
    own, so a slow receiver never holds up a batch:
      logwarden worker --queues notify
    """
    from workers.celery_app import QUEUES

    unknown = sorted({q.strip() for q in queues.split(",")} - set(QUEUES))
    if unknown:
        raise click.BadParameter(f"unknown queue {', '.join(unknown)!s}; "
                                 f"use {', '.join(QUEUES)}", param_hint="--queues")
    from workers.worker import app

    argv = ["worker", "-Q", queues, "--pool", "prefork", "--loglevel", "INFO"]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    app.worker_main([*argv, *celery_args])


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def beat(celery_args: tuple[str, ...]) -> None:
    """Run Celery beat: outbox sweeps and the other schedules."""
    from workers.worker import app

    app.start(["beat", "--loglevel", "INFO", *celery_args])


@main.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--labels", "labels_file",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV of incident windows: service,start,end,kind (see above).")
@click.option("--line-labels", "line_labels_file",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="One 0/1 label per line of FILE: also score windows of lines.")
@click.option("--window-lines", type=click.IntRange(min=1), default=20, show_default=True,
              help="Lines per window for --line-labels.")
@click.option("--pace", "pace_s", type=click.FloatRange(min=0, min_open=True),
              help="Replay the lines evenly, this many seconds apart (thin samples).")
@click.option("--sensitivity", type=click.FloatRange(0, 5, min_open=True),
              help="Scales every score before the thresholds (default: settings).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--details", is_flag=True, help="Also list each incident and each false alert.")
@click.pass_obj
def eval_(settings: Settings, file: Path, labels_file: Path | None,
          line_labels_file: Path | None, window_lines: int, pace_s: float | None,
          sensitivity: float | None, as_json: bool, details: bool) -> None:
    """Score detection on FILE (any input `run` takes, gzip ok) against labeled incidents.

    \b
    Replays FILE embedded, on a throwaway SQLite database, and prints per detector,
    for Logwarden's stored anomalies ("combined") and for the baseline rule (error
    share above 10 % or 5 identical error lines in a batch), on the same batches:
    window-level precision, recall and F1, and false alerts per hour of log time and
    per service-day. Give --labels, --line-labels or both.

    \b
    LABELS is a CSV, one incident per line:  service,start,end,kind
      service  the service as Logwarden derives it from the entry
      start    RFC 3339 time, e.g. 2026-11-02T10:08:00Z (end likewise)
      kind     free text, e.g. crash_loop
    An optional first line "service,start,end,kind" is a header; blank lines and
    lines starting with # are skipped. Entries whose labels hold
    "logwarden.dev/anomaly": "true" also mark their window as an incident.

    \b
    A window is one batch (one stream, about a minute of log time); it is positive
    when it overlaps an incident of its service. A detector flags a window when one of
    its findings there scores at least 0.6; "combined" flags the windows with a stored
    anomaly. A false alert is an alert (flags grouped per fingerprint within the alert
    window) that overlaps no incident.

    \b
    LINE LABELS hold one 0 or 1 per line of FILE, in order. Windows of --window-lines
    consecutive lines are then scored too: a window is positive when any of its lines
    is labeled 1; a source flags it when one of its alerts covers a line in it (the
    entries its evidence names, else every line of the batch it was raised on); the
    baseline rule is applied to each window's own lines.
    """
    import json

    from workers.evaluate import LabelError, evaluate, read_labels, render_table, to_json
    from workers.line_eval import LineLabelError, read_line_labels

    if labels_file is None and line_labels_file is None:
        raise click.UsageError("give --labels (incidents), --line-labels (0/1 per line) or both")
    try:
        incidents = read_labels(labels_file) if labels_file else []
        line_labels = read_line_labels(line_labels_file) if line_labels_file else None
    except (LabelError, LineLabelError) as exc:
        raise click.UsageError(str(exc)) from exc
    if sensitivity is not None:
        settings = settings.model_copy(update={"sensitivity": sensitivity})
    try:
        result = evaluate(file, incidents, settings, line_labels=line_labels,
                          window_lines=window_lines, pace_s=pace_s)
    except LineLabelError as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(to_json(result, file.name), indent=2))
    else:
        click.echo(render_table(result, file.name, details=details))
