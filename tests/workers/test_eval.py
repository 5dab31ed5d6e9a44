"""`logwarden eval` on the development sets (the detection acceptance criteria), on a small
file of our own, and its label-format errors."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import evaluation as ev
from workers import devsets
from workers.cli import main
from workers.devsets.build import write_set
from workers.devsets.line_labels import lines_path
from workers.evaluate import Evaluation, LabelError, evaluate, read_labels, render_table
from workers.line_eval import read_line_labels
from workers.sample.loghub import default_loghub_dir
from workers.settings import Settings

SETS = devsets.set_names()
KINDS = {
    "error_burst",
    "new_failure_message",
    "crash_loop",
    "auth_failure_burst",
    "volume_spike",
    "volume_drop",
    "silent_stream",
    "template_burst",
    "rare_template_burst",
    "latency_increase",
    "http_5xx_burst",
    "parameter_outlier",
    "deploy_regression",
}


def _evaluate(name: str) -> Evaluation:
    incidents = read_labels(devsets.labels_path(name))
    lines = read_line_labels(lines_path(name))
    return evaluate(devsets.data_path(name), incidents, Settings(), progress=False,
                    line_labels=lines, window_lines=20)  # fmt: skip


@pytest.fixture(scope="module")
def results() -> dict[str, Evaluation]:
    """Every development set evaluated once, two at a time (the replays are CPU-bound).

    Spawned, not forked: earlier tests leave threads (gRPC, Celery, logging) whose locks a
    forked child could inherit held, and hang on.
    """
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as pool:
        return dict(zip(SETS, pool.map(_evaluate, SETS), strict=True))


def _score(result: Evaluation, source: str) -> ev.Score:
    return next(s for s in result.scores if s.source == source)


def test_the_sets_are_there_and_cover_every_incident_kind():
    assert len(SETS) >= 4
    kinds = {i.kind for name in SETS for i in read_labels(devsets.labels_path(name))}
    assert kinds >= KINDS, KINDS - kinds
    assert any(not read_labels(devsets.labels_path(name)) for name in SETS), "no clean set"


@pytest.mark.parametrize("name", [n for n in SETS if read_labels(devsets.labels_path(n))])
def test_logwarden_beats_the_baseline(results, name):
    result = results[name]
    combined, baseline = _score(result, ev.COMBINED), _score(result, ev.BASELINE)
    assert combined.f1 > baseline.f1, render_table(result, name, details=True)


@pytest.mark.parametrize("name", [n for n in SETS if read_labels(devsets.labels_path(n))])
def test_logwarden_beats_the_baseline_on_windows_of_20_lines(results, name):
    result = results[name]
    assert result.lines is not None and result.lines.size == 20
    scores = {s.source: s for s in result.lines.scores}
    assert scores[ev.COMBINED].f1 > scores[ev.BASELINE].f1, render_table(result, name)


@pytest.mark.parametrize("name", [n for n in SETS if not read_labels(devsets.labels_path(n))])
def test_under_one_false_alert_per_service_day_on_a_clean_set(results, name):
    result = results[name]
    combined = _score(result, ev.COMBINED)
    assert combined.service_days >= 4.0  # several services over a whole day
    assert combined.false_alerts_per_service_day < 1.0, render_table(result, name, details=True)


@pytest.mark.parametrize("name", SETS)
def test_the_runs_incidents_are_the_stored_ones(results, name):
    """Eval groups combined flags in fixed windows (comparable across runs); the store
    folds the same anomalies into incidents: every one the run opened is stored."""
    result = results[name]
    assert result.summary.alerts == result.stored_alerts  # the silence check's count too
    assert result.summary.accounted


def test_the_generator_is_deterministic(tmp_path):
    write_set("edge", default_loghub_dir(), tmp_path)
    for built in ("edge.jsonl.gz", "edge.labels.csv", "edge.lines.txt"):
        assert (tmp_path / built).read_bytes() == (devsets.DATA / built).read_bytes(), built


def _entry(i: int, *, marked: bool = False, severity: str = "INFO") -> str:
    labels = {"logwarden.dev/anomaly": "true"} if marked else {}
    minute, second = divmod(i * 20, 60)
    return json.dumps(
        {
            "insertId": f"e{i}",
            "textPayload": f"request {i % 3} served",
            "severity": severity,
            "timestamp": f"2026-11-02T08:{minute:02d}:{second:02d}Z",
            "labels": labels,
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": "checkout"}},
        }
    )


@pytest.fixture
def small_file(tmp_path) -> Path:
    """An hour of `checkout`: 3 entries a minute, four marked in minutes 30 and 31."""
    path = tmp_path / "checkout.jsonl"
    lines = [
        _entry(i, marked=i in (90, 91, 92, 93), severity="ERROR" if i >= 90 else "INFO")
        for i in range(180)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_line_labels_mark_their_windows(small_file):
    result = evaluate(small_file, [], Settings(), progress=False)
    assert result.summary.entries == 180
    assert result.positive_windows == 2  # minutes 30 and 31
    assert [r.incident.kind for r in result.incidents] == ["line label", "line label"]


def test_json_output_and_labels_from_csv(small_file, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "service,start,end,kind\ncheckout,2026-11-02T08:30:00Z,2026-11-02T08:31:59Z,error_burst\n"
    )
    run = CliRunner().invoke(main, ["eval", str(small_file), "--labels", str(labels), "--json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.output)
    sources = [s["source"] for s in data["scores"]]
    assert sources[-2:] == [ev.COMBINED, ev.BASELINE] and "error_share" in sources
    assert data["incidents"][0]["kind"] == "error_burst"
    baseline = data["scores"][-1]
    assert baseline["tp"] >= 1  # every entry of those minutes is an error


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("checkout,2026-11-02T08:00:00Z,2026-11-02T09:00:00Z", "line 3: expected 4 fields"),
        ("checkout,yesterday,2026-11-02T09:00:00Z,x", "line 3: start 'yesterday'"),
        ("checkout,2026-11-02T09:00:00Z,2026-11-02T08:00:00Z,x", "line 3: end"),
        (",2026-11-02T08:00:00Z,2026-11-02T09:00:00Z,x", "line 3: the service is empty"),
    ],
)
def test_a_bad_label_row_is_named_by_its_line(tmp_path, small_file, row, expected):
    labels = tmp_path / "labels.csv"
    labels.write_text(f"service,start,end,kind\n# the incident\n{row}\n")
    with pytest.raises(LabelError, match=expected):
        read_labels(labels)
    run = CliRunner().invoke(main, ["eval", str(small_file), "--labels", str(labels)])
    assert run.exit_code == 2
    assert expected in run.output


def _text_log(tmp_path: Path, *, days_apart: bool = False) -> tuple[Path, Path]:
    """200 plain text lines of `billing`, errors on lines 101-120 (labeled 1); with
    `days_apart`, a thin sample: each line a day after the one before."""
    lines, labels = [], []
    for n in range(1, 201):
        day, minute = (n, 0) if days_apart else (1, n)
        month, hour = 1 + day // 28, minute // 60
        stamp = f"2026-{month:02d}-{1 + day % 28:02d}T{hour:02d}:{minute % 60:02d}:00Z"
        bad = 101 <= n <= 120
        text = f"ERROR payment {n} failed: connection refused" if bad else f"INFO paid {n % 7}"
        lines.append(f"{stamp} {text}")
        labels.append("1" if bad else "0")
    log, marks = tmp_path / "billing.log", tmp_path / "billing.lines.txt"
    log.write_text("\n".join(lines) + "\n")
    marks.write_text("\n".join(labels) + "\n")
    return log, marks


def test_line_windows_score_alerts_and_the_baseline_on_the_same_windows(tmp_path):
    log, marks = _text_log(tmp_path)
    args = ["eval", str(log), "--line-labels", str(marks), "--window-lines", "20", "--json"]
    run = CliRunner().invoke(main, [*args, "--pace", "3"])
    assert run.exit_code == 0, run.output
    lines = json.loads(run.output)["line_windows"]
    assert (lines["windows"], lines["positive_windows"], lines["window_lines"]) == (10, 1, 20)
    scores = {s["source"]: s for s in lines["scores"]}
    assert scores[ev.BASELINE]["tp"] == 1 and scores[ev.BASELINE]["fp"] == 0
    assert scores[ev.COMBINED]["tp"] == 1, run.output


def test_pace_replays_a_thin_sample_without_its_gaps(tmp_path):
    log, _ = _text_log(tmp_path, days_apart=True)
    at_real_times = evaluate(log, [], Settings(), progress=False, line_labels=[False] * 200)
    paced = evaluate(log, [], Settings(), progress=False, line_labels=[False] * 200, pace_s=3)
    assert at_real_times.scores[0].hours > 24 * 150  # months of log time
    assert paced.scores[0].hours < 0.2  # 200 lines, 3 s apart


def test_line_labels_must_match_the_lines(tmp_path):
    log, marks = _text_log(tmp_path)
    marks.write_text("0\n" * 150)
    run = CliRunner().invoke(main, ["eval", str(log), "--line-labels", str(marks)])
    assert run.exit_code == 2 and "150 labels for 200 lines" in run.output
    marks.write_text("0\n" * 199 + "yes\n")
    run = CliRunner().invoke(main, ["eval", str(log), "--line-labels", str(marks)])
    assert run.exit_code == 2 and "line 200: expected 0 or 1" in run.output
    run = CliRunner().invoke(main, ["eval", str(log)])
    assert run.exit_code == 2 and "--line-labels" in run.output
