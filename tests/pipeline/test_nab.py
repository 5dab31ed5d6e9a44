"""NAB's standard profile, checked on series small enough to score by hand."""

from __future__ import annotations

import math

import pytest

from pipeline import nab

TIMES = tuple(range(100))  # rows 0..99; probation is rows 0..14
WINDOW = ((40, 59),)


def _score(*detections: int, windows=WINDOW) -> nab.CorpusScore:
    return nab.score_corpus([nab.Series("s", TIMES, windows, frozenset(detections))])


def test_nothing_detected_scores_zero_and_every_window_at_its_start_scores_100():
    assert _score().normalized() == 0.0
    assert _score(40).normalized() == pytest.approx(100.0)


def test_only_the_first_detection_in_a_window_counts_and_earlier_is_better():
    assert _score(40, 50, 59).normalized() == pytest.approx(100.0)
    middle, late = _score(50).normalized(), _score(59).normalized()
    assert 50.0 < late < middle < 100.0
    # the position is -(end - i + 1) / width: -0.5 at row 50 of a 20-row window
    expected = nab.scaled_sigmoid(-0.5) / nab.scaled_sigmoid(-1.0)
    assert middle == pytest.approx(100 * (expected + 1) / 2)


def test_a_false_positive_costs_011_before_any_window_and_less_just_after_one():
    before = _score(20)
    assert before.raw == pytest.approx(-1.0 - 0.11)
    assert before.false_positives == 1
    just_after = _score(60).raw + 1.0
    assert -0.11 < just_after < 0.0
    far_after = _score(99).raw + 1.0
    assert far_after < just_after
    assert _score(60).series[0].detected == 0


def test_probation_rows_are_not_scored():
    assert _score(10).raw == pytest.approx(-1.0)
    assert _score(10).false_positives == 0


def test_a_series_without_windows_only_pays_for_false_positives():
    corpus = nab.score_corpus(
        [
            nab.Series("a", TIMES, WINDOW, frozenset({40})),
            nab.Series("clean", TIMES, (), frozenset({30, 31})),
        ]
    )
    assert corpus.windows == 1
    assert corpus.raw == pytest.approx(1.0 - 0.22)
    assert corpus.normalized() == pytest.approx(100 * (1.78 / 2))


def test_scaled_sigmoid_matches_nab():
    assert nab.scaled_sigmoid(0.0) == 0.0
    assert nab.scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert nab.scaled_sigmoid(3.5) == -1.0
