"""The embedded run on the bundled sample: incidents found, few false alerts, counts add up."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.storage import Store, make_engine
from tests.integration.blas_probe import blas_thread_counts
from workers import sample
from workers.embedded import ReplayClock, RunSummary, run_embedded
from workers.settings import Settings

SLACK = sample.SLACK  # an anomaly of the incident's service starting this near counts
MAX_OTHER_ALERTS = 5


@pytest.fixture(scope="module")
def replay(tmp_path_factory) -> tuple[RunSummary, Store, Settings]:
    tmp = tmp_path_factory.mktemp("embedded")
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'logwarden.db'}",
        channels=["file"],
        alerts_file=tmp / "alerts.jsonl",
    )
    with gzip.open(sample.sample_path(), "rb") as stream:
        summary = run_embedded(stream, source_name="sample", settings=settings, progress=False)
    return summary, Store(make_engine(settings.database_url)), settings


def _truth() -> dict:
    return json.loads(sample.truth_path().read_text())


def test_counts_add_up(replay):
    summary, store, _ = replay
    truth = _truth()
    assert summary.entries == truth["entries"]
    assert sum(summary.dead_letters.values()) == truth["malformed"]
    assert summary.duplicates == truth["duplicates"]
    assert summary.accounted
    totals = store.totals()
    assert totals.processed == summary.processed
    assert totals.duplicates == summary.duplicates
    assert totals.dead_letters == truth["malformed"]


def _anomalies_near(store: Store, incident: sample.Incident):
    start, end = incident.start - SLACK, incident.end + SLACK
    return [
        a
        for a in store.anomalies(service=incident.service, limit=10_000)
        if start <= datetime.fromtimestamp(a.start_ns / 1e9, UTC) <= end
        and a.severity != "info"
    ]


@pytest.mark.parametrize("incident", sample.load_truth(), ids=lambda i: i.id)
def test_every_incident_is_found(replay, incident):
    _, store, _ = replay
    found = _anomalies_near(store, incident)
    assert found, f"no anomaly for {incident.kind} on {incident.service}"


def test_few_other_alerts(replay):
    _, store, settings = replay
    incidents = sample.load_truth()
    alerts = [json.loads(line) for line in settings.alerts_file.read_text().splitlines()]
    assert alerts, "the file channel received no alerts"
    card = sample.score_alerts(incidents, store.alerts(limit=10_000))
    assert all(card.found.values()), card.found  # every incident raised an alert
    assert len(card.other) <= MAX_OTHER_ALERTS, card.other


def test_replay_is_idempotent(replay):
    """Replaying the same file into the same database stores nothing twice: the second
    run's entries are counted, as duplicates of the first run's, never lost."""
    first, store, settings = replay
    before = store.totals()
    with gzip.open(sample.sample_path(), "rb") as stream:
        again = run_embedded(stream, source_name="sample", settings=settings, progress=False)
    after = store.totals()
    assert again.accounted
    assert again.processed == 0
    assert again.duplicates == first.processed + first.duplicates
    assert after.anomalies == before.anomalies
    assert after.alerts == before.alerts
    assert after.processed == before.processed


def test_the_crash_loop_is_one_incident_paged_updated_and_resolved(replay):
    """Five anomaly types of one crash loop: one incident, one thread of messages."""
    _, store, settings = replay
    crash = next(i for i in sample.load_truth() if i.kind == "crash_loop")
    [incident] = [i for i in store.alerts(limit=10_000)
                  if crash.explains(i.service, i.first_seen_ns)]
    assert len(incident.anomaly_types) >= 3 and incident.status == "resolved"
    lines = [json.loads(line) for line in settings.alerts_file.read_text().splitlines()]
    sent = [line for line in lines if line["alert_id"] == incident.id]
    kinds = [line["kind"] for line in sent]
    assert kinds[0] == "firing" and kinds[-1] == "resolved" and kinds.count("firing") == 1
    assert "update" in kinds
    revisions = [line["revision"] for line in sent]
    assert revisions == sorted(set(revisions))  # in order, each once
    assert sent[-1]["severity"] == "critical" and sent[-1]["resolved_at"]
    assert any("OutOfMemoryError" in s for line in sent for s in line["samples"])
    assert any(label == "Logs Explorer" for label, _ in sent[0]["links"])


def _three_lines(tmp_path: Path) -> tuple[Settings, Path]:
    """Settings for a run on its own database, and a file of three request lines."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'lines.db'}", channels=[])
    lines = [json.dumps({"textPayload": f"request {i} served", "severity": "INFO",
                         "timestamp": f"2026-01-01T00:00:{i:02d}Z", "insertId": f"i{i}",
                         "resource": {"type": "generic_task", "labels": {"job": "api"}}})
             for i in range(3)]  # fmt: skip
    path = tmp_path / "lines.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return settings, path


def test_numpy_blas_runs_on_one_thread_while_a_run_lasts(tmp_path):
    import numpy as np  # noqa: F401  # its BLAS loaded, as the pipeline has it

    before = blas_thread_counts()
    during: list[list[int]] = []
    settings, path = _three_lines(tmp_path)
    with path.open("rb") as stream:
        summary = run_embedded(
            stream, source_name="lines", settings=settings, progress=False,
            on_outcome=lambda *_: during.append(blas_thread_counts()),
        )  # fmt: skip
    assert summary.batches and during and all(set(t) == {1} for t in during)
    assert blas_thread_counts() == before  # as it was, after the run


def test_a_run_freezes_the_start_up_heap_while_it_lasts_and_gives_it_back(tmp_path):
    """Frozen, the collector skips start-up's objects during the replay; given back after,
    what the run built can be freed by a process that runs again (eval, the tests). What
    the imports froze (`workers.imports_for_good`) is given back with it."""
    import gc

    during: list[int] = []
    settings, path = _three_lines(tmp_path)
    for _ in range(2):
        with path.open("rb") as stream:
            run_embedded(stream, source_name="lines", settings=settings, progress=False,
                         on_outcome=lambda *_: during.append(gc.get_freeze_count()))
        assert gc.get_freeze_count() == 0
    assert during and all(count > 0 for count in during)


def test_a_run_spaces_the_young_collections_while_it_lasts_and_restores_them(tmp_path):
    """The young generation's threshold is raised for the run only; a caller's own
    thresholds, the collector's automatic runs turned off (0) among them, come back."""
    import gc

    from workers.runtime import RUN_YOUNG_THRESHOLD

    during: list[tuple[int, int, int]] = []
    settings, path = _three_lines(tmp_path)
    before = gc.get_threshold()
    try:
        for young in (700, 0):
            gc.set_threshold(young, 11, 12)
            with path.open("rb") as stream:
                run_embedded(stream, source_name="lines", settings=settings, progress=False,
                             on_outcome=lambda *_: during.append(gc.get_threshold()))
            assert gc.get_threshold() == (young, 11, 12)
    finally:
        gc.set_threshold(*before)
    assert during[0] == (RUN_YOUNG_THRESHOLD, 11, 12)
    assert during[-1] == (0, 11, 12)


@pytest.mark.parametrize(("progress", "shown"), [(True, True), (None, False), (False, False)])
def test_the_bar_shows_when_asked_for_and_stays_hidden_off_a_terminal(
    tmp_path, capfd, progress, shown
):
    """Asked for, the bar draws on stderr even off a terminal; unasked, it shows only on a
    terminal (here stderr is a pipe: `test_input_formats_cli` tries a real terminal)."""
    settings, path = _three_lines(tmp_path)
    with path.open("rb") as stream:
        summary = run_embedded(stream, source_name="lines", settings=settings,
                               size_hint=path.stat().st_size, progress=progress)
    assert summary.accounted
    assert ("replaying" in capfd.readouterr().err) is shown


def test_the_replay_clock_reads_the_latest_of_the_lines_and_the_checks() -> None:
    """Set by lines (`line_s`) and by the scheduled checks (`at`), the clock reads the
    later of the two, as one clock moved on by both would; the ledger's clock follows
    the lines alone."""
    clock = ReplayClock()
    ledger_clock = clock.line_clock(5.0)
    before = datetime.now(UTC)
    assert clock.seconds() is None and before <= clock() <= datetime.now(UTC)
    assert ledger_clock() == 5.0
    clock.line_s = 100.0
    assert clock() == datetime.fromtimestamp(100.0, UTC) and ledger_clock() == 100.0
    clock.at(160.0)
    assert clock.seconds() == 160.0 and ledger_clock() == 100.0
    clock.line_s = 130.0  # a line behind the last check: the clock does not go back
    assert clock.seconds() == 160.0
    clock.line_s = 200.0
    clock.at(190.0)
    assert clock() == datetime.fromtimestamp(200.0, UTC) and ledger_clock() == 200.0
