"""Our one-row forest scoring gives scikit-learn's own numbers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from pipeline.detectors.forest import ForestScorer


@pytest.mark.parametrize("max_samples", [8, 64, 256])
def test_matches_score_samples(max_samples):
    rng = np.random.default_rng(3)
    history = rng.normal(size=(300, 12))
    forest = IsolationForest(n_estimators=25, max_samples=max_samples, random_state=0)
    forest.fit(history)
    scorer = ForestScorer.from_forest(forest)
    probes = np.vstack([rng.normal(size=(20, 12)), rng.normal(loc=6.0, size=(5, 12))])
    expected = -forest.score_samples(probes)
    ours = [scorer.isolation(row) for row in probes]
    np.testing.assert_allclose(ours, expected, rtol=1e-9)
    assert max(ours[-5:]) > max(ours[:20])  # the far rows are the odd ones
