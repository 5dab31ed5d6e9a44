"""Our one-row forest scoring gives scikit-learn's own numbers, from the stored arrays; our
forest fitting fits scikit-learn's (the installed version's) trees, node by node."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.utils._random import _our_rand_r_py
from sklearn.utils.random import sample_without_replacement

from pipeline.detectors.forest import (
    ForestScorer,
    StoredForest,
    average_path_length,
    fit_forest,
    isolation_trees,
    sklearn_tree,
)
from pipeline.detectors.isolation_tree import RAND_R_MAX, Rows, Tree, XorShift, draw_rows, grow
from tests.workers.clirun import cli_env


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


def awkward_rows(seed: int) -> tuple[np.ndarray, int]:
    """Rows of one of many kinds that put the tree builder's corners to work, and a
    max_samples for them (each of `sample_without_replacement`'s methods in turn)."""
    rng = np.random.default_rng(seed)
    rows = int(rng.choice([1, 2, 3, 5, 9, 30, 59, 60, 63, 64, 65, 100, 200, 360]))
    width = int(rng.choice([1, 2, 3, 7, 12, 23]))
    x = rng.normal(size=(rows, width))
    kind = seed % 10
    if kind == 0:
        x = history_like(rows, seed)[:, :width]
    elif kind == 1:  # small integers: ties everywhere
        x = np.round(2 * x)
    elif kind == 2:  # columns that never move
        x[:, rng.random(width) < 0.5] = 3.0
    elif kind == 3:
        x[:] = 1.5
    elif kind == 4:  # a few distinct rows, duplicated
        x = x[rng.integers(0, max(1, rows // 10), size=rows)]
    elif kind == 5:  # large and small magnitudes, float32's extremes among them
        x *= 10.0 ** rng.integers(-40, 38, size=width)
        x[rng.random(x.shape) < 0.05] = np.finfo(np.float32).max
    elif kind == 6:  # missing values
        x[rng.random(x.shape) < 0.15] = np.nan
        x[:, 0] = np.nan
    elif kind == 7:  # infinities and signed zeros
        x[rng.random(x.shape) < 0.1] = np.inf
        x[rng.random(x.shape) < 0.05] = -np.inf
        x[rng.random(x.shape) < 0.1] = -0.0
        x[rng.random(x.shape) < 0.1] = 0.0
    elif kind == 8:  # values a float32 step apart: constant within 1e-7 or not
        x = 1.0 + rng.integers(0, 3, size=x.shape) * np.finfo(np.float32).eps
    else:  # duplicated rows with a few missing values
        x = x[rng.integers(0, max(1, rows // 4), size=rows)]
        x[rng.random(x.shape) < 0.05] = np.nan
    max_samples = int(min(rows, rng.choice([1, 2, 7, 64, 64, 64, 256])))
    if seed % 25 == 0:  # few drawn from many: tracking selection
        x, max_samples = np.tile(x, (1000 // len(x) + 1, 1))[:1000], 7
    return x.astype(np.float32), max_samples


TREE_NODES = ("children_left", "children_right", "feature", "threshold", "missing_go_to_left",
              "n_node_samples", "impurity", "depth")  # fmt: skip


@pytest.mark.parametrize("chunk", range(10))
def test_the_trees_are_isolation_forests_node_by_node_on_awkward_rows(chunk):
    for seed in range(40 * chunk, 40 * chunk + 40):
        x, max_samples = awkward_rows(seed)
        forest = IsolationForest(n_estimators=6, max_samples=max_samples, random_state=seed % 7)
        forest.fit(x)
        trees = isolation_trees(x, n_estimators=6, max_samples=max_samples,
                                random_state=seed % 7)  # fmt: skip
        for estimator, columns, tree in zip(
            forest.estimators_, forest.estimators_features_, trees, strict=True
        ):
            np.testing.assert_array_equal(columns, np.arange(x.shape[1]))
            theirs = sklearn_tree(estimator.tree_)
            for name in TREE_NODES:  # to the bit: -0.0 is not 0.0, NaN is NaN
                ours, expected = getattr(tree, name), getattr(theirs, name)
                assert ours.tobytes() == expected.astype(ours.dtype).tobytes(), (seed, name)
        scorer, scores = fit_forest(x, n_estimators=6, max_samples=max_samples,
                                    random_state=seed % 7)  # fmt: skip
        assert scorer.stored() == ForestScorer.from_forest(forest).stored(), seed
        assert scores.tobytes() == (-forest.score_samples(x)).tobytes(), seed


def test_the_generator_is_scikit_learns():
    for seed in [0, 1, 2, 12345, 2**31 - 1, 2**31, 2**32 - 1]:
        assert XorShift(seed).draw() == _our_rand_r_py(seed)
    rng, state = XorShift(7), 7
    for _ in range(1000):  # each number is the next state's low 31 bits
        drawn = rng.draw()
        assert drawn == _our_rand_r_py(state) and drawn == rng.state & 0x7FFF_FFFF
        state = rng.state


@pytest.mark.parametrize(("population", "size"), [(360, 64), (60, 60), (65, 64), (1000, 7),
                                                  (5000, 1), (100, 99), (1, 1), (200, 30)])
def test_the_rows_drawn_are_sample_without_replacements(population, size):
    for seed in range(20):
        ours, theirs = np.random.RandomState(seed), np.random.RandomState(seed)
        drawn = draw_rows(population, size, ours)
        assert drawn == sorted(sample_without_replacement(population, size, random_state=theirs))
        assert ours.randint(2**31) == theirs.randint(2**31)  # as many numbers drawn


PROBE = """
import json, sys
import pipeline.detectors.learned as learned
fits = []
fit = learned.fit_forest
def counted(*args, **kwargs):
    fits.append(None)
    return fit(*args, **kwargs)
learned.fit_forest = counted
from workers.cli import main
try:
    main(["--db", "sqlite:///" + sys.argv[2], "run", "--from", sys.argv[1]])
except SystemExit as exit:
    assert not exit.code, exit.code
loaded = sorted({name.partition(".")[0] for name in sys.modules} & {"sklearn", "scipy"})
print(json.dumps({"fits": len(fits), "loaded": loaded}))
"""


def a_stream_of_minutes(minutes: int) -> list[str]:
    """A few log lines a minute from one container: a window a minute."""
    return [
        json.dumps({"insertId": f"e-{minute}-{k}", "severity": "INFO",
                    "timestamp": f"2026-11-02T{8 + minute // 60:02d}:{minute % 60:02d}:{k}0Z",
                    "textPayload": f"GET /items/{k} 200 in {minute % 9} ms",
                    "resource": {"type": "k8s_container", "labels": {"container_name": "shop"}}})
        for minute in range(minutes) for k in range(5)
    ]  # fmt: skip


def test_a_run_that_fits_forests_imports_neither_scikit_learn_nor_scipy(tmp_path: Path):
    (tmp_path / "logs.jsonl").write_text("\n".join(a_stream_of_minutes(80)) + "\n")
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "logs.jsonl"), str(tmp_path / "lw.db")],
        cwd=Path(__file__).resolve().parents[3], env=cli_env(), capture_output=True, text=True,
        timeout=120, check=True,
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {"fits": 1, "loaded": []}


def sklearn_grown(x: np.ndarray, y: np.ndarray, chosen: list[int], max_depth: int,
                  seed: int) -> Tree:  # fmt: skip
    """The tree scikit-learn's own builder, splitter and criterion grow, as
    `ExtraTreeRegressor(max_features=1, splitter="random")` runs them for `IsolationForest`."""
    from sklearn.tree._criterion import MSE
    from sklearn.tree._splitter import RandomSplitter
    from sklearn.tree._tree import DepthFirstTreeBuilder
    from sklearn.tree._tree import Tree as SklearnTree

    n, width = x.shape
    weights = np.bincount(chosen, minlength=n).astype(np.float64)
    splitter = RandomSplitter(MSE(1, n), 1, 1, 0.0, np.random.RandomState(seed), None)
    tree = SklearnTree(width, np.array([1], dtype=np.intp), 1)
    DepthFirstTreeBuilder(splitter, 2, 1, 0.0, max_depth, 0.0).build(
        tree, x, np.ascontiguousarray(y.reshape(-1, 1)), weights, None
    )
    return sklearn_tree(tree)


@pytest.mark.parametrize("targets", ["ties", "far from zero"])
def test_a_tree_stops_where_scikit_learns_builder_stops(targets):
    # IsolationForest's targets are distinct numbers from [0, 1), so that a node's impurity
    # is at most EPSILON, or a split's improvement below -EPSILON, only by a rare chance;
    # targets with ties, or far from zero (rounding errors beyond EPSILON), meet both often.
    for seed in range(60):
        x, max_samples = awkward_rows(seed)
        rng = np.random.default_rng(seed)
        if targets == "ties":
            y = rng.integers(0, 3, size=len(x)) / 4
        else:
            y = 1000.0 + rng.integers(0, 2, size=len(x)) * 0.1 + rng.normal(size=len(x)) * 1e-11
        chosen = sorted(rng.choice(len(x), size=max_samples, replace=False).tolist())
        max_depth = int(rng.integers(1, 9))
        ours = grow(Rows.of(x, y), chosen, max_depth,
                    int(np.random.RandomState(seed).randint(0, RAND_R_MAX)))  # fmt: skip
        theirs = sklearn_grown(x, y, chosen, max_depth, seed)
        for name in TREE_NODES:
            expected = getattr(theirs, name).astype(getattr(ours, name).dtype)
            assert getattr(ours, name).tobytes() == expected.tobytes(), (seed, name)
