"""A fitted IsolationForest as a few flat arrays, and scoring one window with them.

`IsolationForest.score_samples` dispatches every tree through joblib, which costs
about 0.3 ms a tree even for one row, and keeping the fitted forest meant pickling it
(and unpickling it, with scikit-learn imported, in every worker that scores). The
trees are kept instead as the arrays a walk needs: each node's feature, threshold (or,
at a leaf, its path length, precomputed with the formula of Liu et al. as scikit-learn
computes it) and children. All trees are walked together, one level at a time. The
numbers are the same as walking each tree with scikit-learn's own `apply`; a test holds
them to `score_samples`.

`fit_forest` fits the same trees as `IsolationForest.fit`, with the same random numbers,
and gives the training rows' scores as `score_samples` does, without the estimator
around the trees: most of a fit's time went to building a new `RandomState` (its
seeding costs about 0.2-0.5 ms) three times a tree, and to cloning, checking and
converting for every tree. A test holds the trees to `IsolationForest`'s, node by node.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

if TYPE_CHECKING:  # sklearn takes seconds to import; a run that fits no forest skips it
    from collections.abc import Sequence

    from sklearn.ensemble import IsolationForest

EULER_GAMMA = 0.5772156649
NODE_INDEX = np.int32
MAX_SEED = np.iinfo(np.int32).max  # scikit-learn's bound for the seeds it draws


class StoredForest(msgspec.Struct, frozen=True, array_like=True):
    """The trees' nodes, every tree after the one before it, as raw arrays."""

    roots: bytes  # int32: each tree's first node
    feature: bytes  # int32 per node: the column of the row it tests (0 at a leaf)
    value: bytes  # float64 per node: the threshold, or at a leaf its path length
    left: bytes  # int32 per node: where a row at most the threshold goes (a leaf: itself)
    right: bytes  # int32 per node: where a larger row goes (a leaf: itself)
    nan_left: bytes  # bool per node: whether a missing value goes left, as sklearn has it
    depth: int  # the deepest leaf's depth: the steps of a walk
    denominator: float  # the trees' count times c(max_samples)


def average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): the mean depth of an unsuccessful search in a binary tree of n points."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + EULER_GAMMA) - 2.0 * (n[big] - 1.0) / n[big]
    return out


@dataclass(frozen=True, slots=True)
class ForestScorer:
    """The fitted trees' nodes, every tree's in one set of arrays (see `StoredForest`)."""

    roots: np.ndarray
    feature: np.ndarray
    value: np.ndarray
    left: np.ndarray
    right: np.ndarray
    nan_left: np.ndarray
    depth: int
    denominator: float

    @classmethod
    def from_forest(cls, forest: IsolationForest) -> ForestScorer:
        trees = [estimator.tree_ for estimator in forest.estimators_]
        return cls.from_trees(trees, forest.estimators_features_, forest.max_samples_)

    @classmethod
    def from_trees(
        cls, trees: Sequence[Any], columns: Sequence[np.ndarray], max_samples: int
    ) -> ForestScorer:
        """From scikit-learn's fitted trees (`Tree`), each with the columns it was fitted on."""
        parts = [
            _tree_nodes(tree, np.asarray(used)) for tree, used in zip(trees, columns, strict=True)
        ]
        sizes = [len(part[0]) for part in parts]
        roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(NODE_INDEX)
        feature, value, left, right, nan_left, depths = (
            np.concatenate(column) for column in zip(*parts, strict=True)
        )
        left, right = left + np.repeat(roots, sizes), right + np.repeat(roots, sizes)
        samples = np.array([max_samples])
        return cls(
            roots=roots,
            feature=feature.astype(NODE_INDEX),
            value=value,
            left=left.astype(NODE_INDEX),
            right=right.astype(NODE_INDEX),
            nan_left=nan_left.astype(np.bool_),
            depth=int(depths.max()),
            denominator=len(parts) * float(average_path_length(samples)[0]),
        )

    @classmethod
    def from_stored(cls, stored: StoredForest) -> ForestScorer:
        """Views of the stored bytes: nothing is copied or computed."""
        return cls(
            roots=np.frombuffer(stored.roots, dtype=NODE_INDEX),
            feature=np.frombuffer(stored.feature, dtype=NODE_INDEX),
            value=np.frombuffer(stored.value, dtype=np.float64),
            left=np.frombuffer(stored.left, dtype=NODE_INDEX),
            right=np.frombuffer(stored.right, dtype=NODE_INDEX),
            nan_left=np.frombuffer(stored.nan_left, dtype=np.bool_),
            depth=stored.depth,
            denominator=stored.denominator,
        )

    def stored(self) -> StoredForest:
        return StoredForest(
            roots=self.roots.tobytes(),
            feature=self.feature.tobytes(),
            value=self.value.tobytes(),
            left=self.left.tobytes(),
            right=self.right.tobytes(),
            nan_left=self.nan_left.tobytes(),
            depth=self.depth,
            denominator=self.denominator,
        )

    def isolation(self, vector: np.ndarray) -> float:
        """The anomaly score of one row: about 0.5 for usual rows, towards 1 for odd ones."""
        row = np.asarray(vector, dtype=np.float32)  # as sklearn compares: float32 to float64
        missing = np.isnan(row)
        any_missing = bool(missing.any())
        nodes = self.roots
        for _ in range(self.depth):  # a leaf points at itself, so walking on is harmless
            column = self.feature[nodes]
            goes_left = row[column] <= self.value[nodes]
            if any_missing:  # sklearn sends a missing value to the side its split chose
                goes_left |= missing[column] & self.nan_left[nodes]
            nodes = np.where(goes_left, self.left[nodes], self.right[nodes])
        # Added up tree after tree, as one at a time would: the same rounding every time.
        total = float(np.add.accumulate(self.value[nodes])[-1])
        return float(2.0 ** (-total / self.denominator))


def _tree_nodes(tree: object, columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """One tree's nodes: feature (a column of the full row), value, children, NaN side
    and depth, children numbered within the tree."""
    left = np.asarray(tree.children_left)  # type: ignore[attr-defined]
    right = np.asarray(tree.children_right)  # type: ignore[attr-defined]
    leaf = left == -1
    # scikit-learn gives the root depth 1.
    depth: np.ndarray = tree.compute_node_depths() - 1.0  # type: ignore[attr-defined]
    # sklearn counts the nodes on the path (depth + 1), then subtracts 1 again.
    path = depth + average_path_length(tree.n_node_samples)  # type: ignore[attr-defined]
    here = np.arange(len(left))
    feature = np.where(leaf, 0, columns[np.maximum(tree.feature, 0)])  # type: ignore[attr-defined]
    value = np.where(leaf, path, tree.threshold)  # type: ignore[attr-defined]
    nan_left = np.asarray(tree.missing_go_to_left, dtype=np.bool_)  # type: ignore[attr-defined]
    return (feature, value, np.where(leaf, here, left), np.where(leaf, here, right),
            nan_left, depth)


@cache
def isolation_forest() -> type[IsolationForest]:
    """scikit-learn's IsolationForest class, imported at the first call: the import costs
    a second or two of CPU, which a long-running worker pays at start-up
    (`workers.worker`) and a short run that never fits a forest does not pay at all."""
    from sklearn.ensemble import IsolationForest

    return IsolationForest


def fit_forest(
    rows: np.ndarray, *, n_estimators: int, max_samples: int, random_state: int
) -> tuple[ForestScorer, np.ndarray]:
    """The forest `IsolationForest(n_estimators=n_estimators, max_samples=max_samples,
    random_state=random_state).fit(rows)` fits, and the rows' isolation scores
    (`-score_samples(rows)`), the same numbers to the last bit.

    Each random number is drawn as `IsolationForest` and its bagging draw it: the targets
    and the trees' seeds from `random_state`; for each tree, its own seed, then its columns
    and samples, from the tree's seed. One `RandomState` is seeded again for each draw
    instead of a new one built: the same numbers. Each tree is built by the builder, the
    splitter and the criterion `ExtraTreeRegressor(max_features=1, splitter="random")`
    builds it with, given what its `fit` gives them (without the checks and conversions
    around them, a few tenths of a millisecond a tree). These are scikit-learn's own
    classes, not its public interface: the tests hold the trees to `IsolationForest`'s.
    """
    builder, splitter, criterion, tree_type, draw = _tree_fitting()
    x = np.ascontiguousarray(rows, dtype=np.float32)
    n, width = x.shape
    if not 1 <= max_samples <= n:
        raise ValueError(f"max_samples={max_samples} with {n} rows")
    rng = np.random.RandomState(random_state)
    # Random targets: only a node's impurity reads them (a leaf once it is zero).
    targets = np.ascontiguousarray(np.reshape(rng.uniform(size=n), (-1, 1)), dtype=np.float64)
    rng.seed(random_state)
    seeds = rng.randint(MAX_SEED, size=n_estimators)
    max_depth = int(np.ceil(np.log2(max(max_samples, 2))))
    outputs = np.array([1], dtype=np.intp)  # one output, as a regressor has
    trees, columns = [], []
    for seed in seeds:
        rng.seed(seed)
        tree_seed = rng.randint(MAX_SEED)
        rng.seed(seed)
        columns.append(draw(width, width, random_state=rng))
        chosen = draw(n, max_samples, random_state=rng)
        # The rows not drawn weigh nothing, as in the bagging.
        weights = np.bincount(chosen, minlength=n).astype(np.float64)
        rng.seed(tree_seed)
        # max_features=1, min_samples_leaf=1, min_weight_leaf=0, no monotonic constraints;
        # then min_samples_split=2, min_impurity_decrease=0.
        split = splitter(criterion(1, n), 1, 1, 0.0, rng, None)
        tree = tree_type(width, outputs, 1)
        builder(split, 2, 1, 0.0, max_depth, 0.0).build(tree, x, targets, weights, None)
        trees.append(tree)
    return ForestScorer.from_trees(trees, columns, max_samples), _training_scores(
        trees, x, max_samples
    )


def _training_scores(trees: Sequence[Any], x: np.ndarray, max_samples: int) -> np.ndarray:
    """`IsolationForest._compute_score_samples`, step for step (its rounding too): each
    tree's path lengths are added in turn, as it adds them."""
    depths = np.zeros(len(x), order="F")
    for tree in trees:
        leaves = tree.apply(x)
        depths += (
            tree.compute_node_depths()[leaves] + _sklearn_path_length(tree.n_node_samples)[leaves]
            - 1.0
        )
    denominator = len(trees) * _sklearn_path_length(np.array([max_samples]))
    scores: np.ndarray = 2 ** (
        -np.divide(depths, denominator, out=np.ones_like(depths), where=denominator != 0)
    )
    return scores


def _sklearn_path_length(n_samples_leaf: np.ndarray) -> np.ndarray:
    """scikit-learn's `_average_path_length`, as it computes it (with numpy's Euler gamma,
    not `EULER_GAMMA`: the stored leaves keep the constant they were always given)."""
    n = np.asarray(n_samples_leaf).reshape((1, -1))
    lengths = np.zeros(n.shape)
    small, two = n <= 1, n == 2
    big = ~np.logical_or(small, two)
    lengths[small] = 0.0
    lengths[two] = 1.0
    lengths[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return lengths.reshape(np.asarray(n_samples_leaf).shape)


@cache
def _tree_fitting() -> tuple[Any, Any, Any, Any, Any]:
    """What `fit_forest` builds trees with, from scikit-learn, imported at the first fit
    (see `isolation_forest`)."""
    from sklearn.tree._criterion import MSE
    from sklearn.tree._splitter import RandomSplitter
    from sklearn.tree._tree import DepthFirstTreeBuilder, Tree
    from sklearn.utils.random import sample_without_replacement

    return DepthFirstTreeBuilder, RandomSplitter, MSE, Tree, sample_without_replacement
