"""Window-level scoring, false alerts and the baseline rule, on cases small enough to count
by hand."""

from __future__ import annotations

import pytest

from pipeline import evaluation as ev
from pipeline.entry import LogEntry, Severity

S = 10**9  # one second in ns
HOUR = 3600 * S


def window(service: str, start_s: float, *sources: str, group: str = "g") -> ev.Window:
    flags = tuple(ev.Flag(source, group, f"{source} says so") for source in sources)
    return ev.Window(service, round(start_s * S), round((start_s + 60) * S), flags)


def test_confusion_counts_and_rates():
    incidents = [ev.Incident("api", 30 * S, 100 * S, "error_burst")]
    windows = [
        window("api", 0, "x"),  # overlaps the incident, flagged: TP
        window("api", 60, "y"),  # overlaps it, not flagged by x: FN
        window("api", 200, "x"),  # clean, flagged: FP
        window("api", 300),  # clean, quiet: TN
    ]
    result, _ = ev.score("x", windows, incidents, alert_window_s=3600)
    assert (result.tp, result.fp, result.fn, result.tn) == (1, 1, 1, 1)
    assert result.precision == pytest.approx(0.5)
    assert result.recall == pytest.approx(0.5)
    assert result.f1 == pytest.approx(0.5)


def test_f1_is_the_harmonic_mean():
    incidents = [ev.Incident("api", 0, 1000 * S)]
    windows = [
        window("api", 0, "x"),
        window("api", 100),
        window("api", 200),
        window("api", 2000, "x"),
        window("api", 3000, "x"),
    ]
    result, _ = ev.score("x", windows, incidents, 3600)
    # TP 1, FN 2, FP 2: precision 1/3, recall 1/3
    assert result.precision == pytest.approx(1 / 3)
    assert result.recall == pytest.approx(1 / 3)
    assert result.f1 == pytest.approx(1 / 3)


def test_an_incident_of_another_service_makes_no_window_positive():
    incidents = [ev.Incident("db", 0, 1000 * S)]
    result, false = ev.score("x", [window("api", 0, "x")], incidents, 3600)
    assert (result.tp, result.fp) == (0, 1)
    assert len(false) == 1


def test_nothing_to_divide_gives_zero_not_an_error():
    result, false = ev.score("x", [], [], 3600)
    assert (result.precision, result.recall, result.f1) == (0.0, 0.0, 0.0)
    assert result.false_alerts_per_hour == 0.0
    assert false == []


def test_flags_of_one_group_in_one_alert_window_are_one_alert():
    windows = [
        window("api", 0, "x", group="a"),
        window("api", 120, "x", group="a"),  # same group, same hour: the same alert
        window("api", 240, "x", group="b"),  # another group: another alert
        window("api", 3600 + 60, "x", group="a"),  # the next alert window: another alert
        window("db", 0, "x", group="a"),  # another service: another alert
    ]
    result, false = ev.score("x", windows, [], alert_window_s=3600)
    assert result.alerts == 4  # a@api h0, b@api h0, a@api h1, a@db h0
    assert result.false_alerts == 4
    first = min(false, key=lambda a: (a.service, a.start_ns))
    assert (first.service, first.windows) == ("api", 2)


def test_an_alert_touching_an_incident_is_not_false():
    incidents = [ev.Incident("api", 100 * S, 150 * S)]
    windows = [window("api", 0, "x"), window("api", 120, "x"), window("api", 500, "x", group="b")]
    result, false = ev.score("x", windows, incidents, alert_window_s=3600)
    # The group "g" alert holds the window at 120 s, which overlaps the incident.
    assert result.alerts == 2
    assert [a.summary for a in false] == ["x says so"]
    assert result.fp == 1 + 1  # the 0 s window is still a false positive window


def test_false_alerts_per_hour_and_per_service_day():
    windows = [
        window("api", 0, "x"),
        window("api", 2 * 3600 - 60),
        window("db", 0),
        window("db", 3600 - 60),
    ]
    result, _ = ev.score("x", windows, [], 3600)
    assert result.hours == pytest.approx(2.0)
    assert result.service_days == pytest.approx(3 / 24)  # api 2 h + db 1 h
    assert result.false_alerts_per_hour == pytest.approx(0.5)
    assert result.false_alerts_per_service_day == pytest.approx(8.0)


def test_an_incident_no_window_covers_counts_as_missed():
    incidents = [ev.Incident("api", 500 * S, 800 * S, "silent_stream")]
    windows = ev.with_missed_incidents([window("api", 0), window("api", 900)], incidents)
    assert len(windows) == 3
    result, _ = ev.score("x", windows, incidents, 3600)
    assert (result.tp, result.fn, result.tn) == (0, 1, 2)


def test_incident_results_count_flagged_windows_per_source():
    incidents = [ev.Incident("api", 0, 100 * S, "crash_loop")]
    windows = [window("api", 0, "x", "y"), window("api", 60, "y"), window("api", 500, "x")]
    [result] = ev.incident_results(windows, incidents, ["x", "y", "z"])
    assert result.windows == 2
    assert result.flagged == {"x": 1, "y": 2, "z": 0}


def entries(*lines: tuple[Severity, str]) -> list[LogEntry]:
    return [LogEntry(f"id{i}", i * S, sev, text) for i, (sev, text) in enumerate(lines)]


INFO = (Severity.INFO, "ok")


def test_baseline_fires_above_ten_percent_errors():
    assert ev.baseline_flags(entries(*[INFO] * 9, (Severity.ERROR, "boom"))) == []  # 10 %
    flags = ev.baseline_flags(entries(*[INFO] * 8, (Severity.ERROR, "a"), (Severity.ERROR, "b")))
    assert [f.group for f in flags] == ["error-share"]
    assert all(f.source == ev.BASELINE for f in flags)


def test_baseline_fires_on_five_identical_error_lines():
    same = [(Severity.CRITICAL, "disk gone")] * 5
    flags = ev.baseline_flags(entries(*[INFO] * 95, *same))  # 5 %: only the repeats count
    assert [f.group for f in flags] == ["same:disk gone"]
    four = ev.baseline_flags(entries(*[INFO] * 96, *same[:4]))
    different = [(Severity.ERROR, f"error {i}") for i in range(5)]
    assert four == []
    assert ev.baseline_flags(entries(*[INFO] * 95, *different)) == []


def test_baseline_ignores_warnings_and_empty_batches():
    assert ev.baseline_flags(entries(*[(Severity.WARNING, "slow")] * 10)) == []
    assert ev.baseline_flags([]) == []
