"""Learned: an isolation forest over window features, kept and refitted in the state."""

from __future__ import annotations

import math
import pickle
import random
import zlib
from collections import Counter

import msgspec
import numpy as np
from sklearn.ensemble import IsolationForest

from pipeline.detectors.forest import ForestScorer
from pipeline.detectors.learned import (
    FEATURES,
    MIX_WIDTH,
    LearnedDetector,
    LearnedState,
    _bucket,
    _rows,
    _template_mix,
    features,
)
from pipeline.entry import Severity
from tests.pipeline.detectors.factory import entry, mined

MIX = {
    "GET /items": (30, Severity.INFO),
    "cache miss": (10, Severity.DEBUG),
    "user logged in": (5, Severity.INFO),
    "retrying call": (2, Severity.WARNING),
}


def window(w: int, rng: random.Random, mix=MIX):
    counts = {m: max(0, round(rng.gauss(rate, math.sqrt(rate)))) for m, (rate, _) in mix.items()}
    messages = [m for m, n in counts.items() for _ in range(n)]
    rng.shuffle(messages)
    return mined(
        entry(
            m,
            at_s=w * 60 + 59 * i / len(messages),
            n=i,
            severity=mix[m][1],
            http_status=200 if m == "GET /items" else None,
            http_latency_s=rng.lognormvariate(math.log(0.08), 0.3) if m == "GET /items" else None,
        )
        for i, m in enumerate(messages)
    )


def run(detector, batches, state=None):
    state, out = state or detector.initial_state(), []
    for batch in batches:
        findings, state = detector.detect(batch, state)
        state = msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=LearnedState)
        out.append(findings)
    return out, state


def test_features_have_a_fixed_width_and_meaning():
    vector = features(window(1, random.Random(1)), 60.0)
    assert vector.shape == (len(FEATURES),)
    assert vector[FEATURES.index("errors")] == 0.0
    assert 0.0 < vector[FEATURES.index("warnings")] < 0.2
    assert abs(sum(vector[len(FEATURES) - 16 :]) - 1.0) < 1e-5  # template shares add up


def test_silent_until_it_has_history_then_keeps_a_model():
    detector = LearnedDetector(min_history=40, retrain_every=40)
    rng = random.Random(2)
    results, state = run(detector, [window(w, rng) for w in range(40)])
    assert state.forest is None and results == [[]] * 40
    results, state = run(detector, [window(w, rng) for w in range(40, 130)], state)
    assert state.forest is not None and not state.model and state.since_fit < 40
    assert [f for found in results for f in found] == []


def test_an_unusual_window_fires_and_says_what_moved():
    detector = LearnedDetector(min_history=40, retrain_every=40)
    rng = random.Random(3)
    _, state = run(detector, [window(w, rng) for w in range(90)])
    broken = {**MIX, "upstream refused": (60, Severity.ERROR)}
    results, _ = run(detector, [window(w, rng, broken) for w in (90, 91)], state)
    findings = [f for found in results for f in found]
    assert [f.anomaly_type for f in findings] == ["unusual_window"] * 2
    assert "error share" in findings[0].summary
    assert findings[1].score > findings[0].score > 0.4
    assert findings[1].score < 0.6  # evidence, below the alerting line
    assert findings[1].score <= detector.max_score


def test_refresh_is_deterministic_and_needs_history():
    detector = LearnedDetector(min_history=40, retrain_every=1000)
    rng = random.Random(4)
    _, state = run(detector, [window(w, rng) for w in range(60)])
    assert detector.refresh(LearnedState()) == LearnedState()
    first, second = detector.refresh(state), detector.refresh(state)
    assert first.forest is not None and first.forest == second.forest and first.since_fit == 0
    assert first.cut == second.cut


def test_refresh_keeps_the_forest_and_cut_isolation_forest_gives():
    detector = LearnedDetector(min_history=40, retrain_every=1000)
    rng = random.Random(7)
    _, state = run(detector, [window(w, rng) for w in range(50)])
    _, longer = run(detector, [window(w, rng) for w in range(50, 130)], state)
    for history in (_rows(state.history), _rows(longer.history)):  # all drawn; 64 drawn
        grown = msgspec.structs.replace(state, history=history.tobytes())
        forest = IsolationForest(n_estimators=detector.n_estimators,
                                 max_samples=min(detector.max_samples, len(history)),
                                 random_state=detector.random_state).fit(history)
        fresh = detector.refresh(grown)
        assert fresh.forest == ForestScorer.from_forest(forest).stored()
        expected = np.quantile(-forest.score_samples(history), detector.cut_quantile)
        assert fresh.cut == float(expected)


def test_an_unreadable_model_is_ignored_until_the_refit():
    detector = LearnedDetector(min_history=40, retrain_every=40)
    rng = random.Random(5)
    _, state = run(detector, [window(w, rng) for w in range(50)])
    spoiled = msgspec.structs.replace(state, forest=None, model=b"not a model")
    results, state = run(detector, [window(w, rng) for w in range(50, 80)], spoiled)
    assert [f for found in results for f in found] == [] and state.model != b"not a model"
    assert state.forest is not None


def test_a_pickled_forest_from_an_older_version_scores_the_same_and_is_kept_as_arrays():
    detector = LearnedDetector(min_history=40, retrain_every=40)
    rng = random.Random(6)
    _, state = run(detector, [window(w, rng) for w in range(90)])
    forest = IsolationForest(n_estimators=detector.n_estimators, max_samples=64,
                             random_state=detector.random_state).fit(_rows(state.history))
    fields = msgspec.structs.asdict(state) | {"model": zlib.compress(pickle.dumps(forest), 6)}
    del fields["forest"]  # as an older version stored it: a pickle, no arrays
    older = msgspec.msgpack.decode(msgspec.msgpack.encode(fields), type=LearnedState)
    broken = {**MIX, "upstream refused": (60, Severity.ERROR)}
    batches = [window(w, rng, broken) for w in (90, 91)]
    read, after = run(detector, batches, older)
    current = msgspec.structs.replace(state, forest=ForestScorer.from_forest(forest).stored())
    assert read == run(detector, batches, current)[0]
    assert [f.anomaly_type for found in read for f in found] == ["unusual_window"] * 2
    assert not after.model and after.forest is not None



def test_the_template_mix_is_each_bucket_grown_by_one_share_an_entry() -> None:
    """Counted per template, each bucket's share is still the sum of 1/n once an entry,
    to the last bit (`count / n` is not)."""
    rng = random.Random(5)
    for _ in range(300):
        n = rng.randint(1, 700)
        ids = tuple(f"t{rng.randint(0, rng.randint(1, 60))}" for _ in range(n))
        slow = np.zeros(MIX_WIDTH)
        for template_id in ids:
            slow[_bucket(template_id)] += 1.0 / n
        assert _template_mix(Counter(ids), n).tobytes() == slow.tobytes()
