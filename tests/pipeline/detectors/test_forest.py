"""Our one-row forest scoring gives scikit-learn's own numbers, from the stored arrays."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from pipeline.detectors.forest import ForestScorer, StoredForest, average_path_length, fit_forest


def fitted(max_samples: int, seed: int = 0) -> tuple[IsolationForest, np.random.Generator]:
    rng = np.random.default_rng(3 + seed)
    history = rng.normal(size=(300, 12))
    history[:, 2] = np.round(history[:, 2])  # ties, as counts and shares have
    forest = IsolationForest(n_estimators=25, max_samples=max_samples, random_state=seed)
    return forest.fit(history), rng


def probes(rng: np.random.Generator) -> np.ndarray:
    rows = np.vstack([rng.normal(size=(20, 12)), rng.normal(loc=6.0, size=(5, 12))])
    return rows.astype(np.float32)


def applied_tree_by_tree(forest: IsolationForest, row: np.ndarray) -> float:
    """The former scoring: sklearn's own `apply` on each tree, path lengths added in order."""
    total = 0.0
    for estimator, columns in zip(forest.estimators_, forest.estimators_features_, strict=True):
        tree = estimator.tree_
        depth = tree.compute_node_depths() - 1.0
        path = depth + average_path_length(tree.n_node_samples)
        leaf = tree.apply(np.ascontiguousarray(row.reshape(1, -1)[:, columns]))
        total += float(path[leaf[0]])
    samples = np.array([forest.max_samples_])
    return float(2.0 ** (-total / (len(forest.estimators_) * average_path_length(samples)[0])))


@pytest.mark.parametrize("max_samples", [8, 64, 256])
def test_matches_score_samples(max_samples):
    forest, rng = fitted(max_samples)
    scorer = ForestScorer.from_forest(forest)
    rows = probes(rng)
    expected = -forest.score_samples(rows)
    ours = [scorer.isolation(row) for row in rows]
    np.testing.assert_allclose(ours, expected, rtol=1e-9)
    assert max(ours[-5:]) > max(ours[:20])  # the far rows are the odd ones


@pytest.mark.parametrize("seed", range(4))
def test_the_same_numbers_as_each_tree_applied(seed):
    # Not merely close: a window scores exactly as before the trees became arrays.
    forest, rng = fitted(64, seed)
    rows = probes(rng)
    rows[-2, 3] = np.nan  # sklearn sends a missing value to the side the split chose
    rows[-1, :] = np.nan
    scorer = ForestScorer.from_forest(forest)
    assert [scorer.isolation(row) for row in rows] == [
        applied_tree_by_tree(forest, row) for row in rows
    ]


def test_the_stored_arrays_score_the_same():
    forest, rng = fitted(64)
    scorer = ForestScorer.from_forest(forest)
    raw = msgspec.msgpack.encode(scorer.stored())
    again = ForestScorer.from_stored(msgspec.msgpack.decode(raw, type=StoredForest))
    rows = probes(rng)
    assert [again.isolation(row) for row in rows] == [scorer.isolation(row) for row in rows]
    assert len(raw) < 32_000  # 25 trees of 64 samples: a few hundred bytes a tree


def history_like(rows: int, seed: int) -> np.ndarray:
    """Window features as the learned detector keeps them: float32, counts with ties, a
    column that never moves, shares in [0, 1]."""
    rng = np.random.default_rng(seed)
    history = rng.normal(size=(rows, 23))
    history[:, 1] = np.round(rng.exponential(size=rows))
    history[:, 4] = 0.0
    history[:, 7:] = rng.dirichlet(np.ones(16), size=rows)
    return history.astype(np.float32)


TREE_ARRAYS = ("feature", "threshold", "children_left", "children_right", "n_node_samples",
               "missing_go_to_left", "impurity", "value", "weighted_n_node_samples")  # fmt: skip


@pytest.mark.parametrize(("rows", "max_samples", "seed"),
                         [(60, 60, 0), (61, 61, 1), (64, 64, 2), (200, 64, 0), (360, 64, 7),
                          (360, 8, 3), (300, 256, 5)])  # fmt: skip
def test_fit_forest_fits_isolation_forests_trees_with_its_scores(rows, max_samples, seed):
    history = history_like(rows, seed)
    forest = IsolationForest(n_estimators=25, max_samples=max_samples, random_state=seed)
    forest.fit(history)
    ours, scores = fit_forest(history, n_estimators=25, max_samples=max_samples,
                              random_state=seed)  # fmt: skip
    # Tree by tree, the same nodes: the same random numbers were drawn in the same order.
    from_sklearn = ForestScorer.from_forest(forest)
    for name in ("roots", "feature", "value", "left", "right", "nan_left"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(from_sklearn, name))
    assert ours.stored() == from_sklearn.stored()
    # The training scores to the last bit (the learned detector's cut is their quantile).
    np.testing.assert_array_equal(scores, -forest.score_samples(history))


def test_fit_forest_draws_the_trees_isolation_forest_draws():
    history = history_like(120, 11)
    forest = IsolationForest(n_estimators=5, max_samples=32, random_state=4).fit(history)
    ours, _ = fit_forest(history, n_estimators=5, max_samples=32, random_state=4)
    sizes = np.diff([*ours.roots, len(ours.feature)])
    assert list(sizes) == [e.tree_.node_count for e in forest.estimators_]
    for estimator, root, size in zip(forest.estimators_, ours.roots, sizes, strict=True):
        tree = estimator.tree_
        leaf = tree.children_left == -1
        np.testing.assert_array_equal(ours.value[root : root + size][~leaf], tree.threshold[~leaf])
    assert not np.array_equal(  # another seed, other trees
        fit_forest(history, n_estimators=5, max_samples=32, random_state=5)[0].value, ours.value
    )


def test_fit_forest_wants_enough_rows():
    with pytest.raises(ValueError, match="max_samples"):
        fit_forest(history_like(10, 0), n_estimators=3, max_samples=11, random_state=0)
