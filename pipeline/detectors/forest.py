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
and gives the training rows' scores as `score_samples` does, without scikit-learn: its
import (with SciPy's) costs most of a second of CPU, more than a short run spends on
anything else, and only a forest pickled by an older version still needs it (see
`isolation_forest`). The trees are grown by `isolation_tree`, as scikit-learn grows them.
A test holds the trees to `IsolationForest`'s, node by node.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from pipeline.detectors.isolation_tree import LEAF, RAND_R_MAX, Rows, Tree, draw_rows, grow

if TYPE_CHECKING:  # sklearn takes a second to import: only reading an old pickle needs it
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
        trees = [sklearn_tree(estimator.tree_) for estimator in forest.estimators_]
        return cls.from_trees(trees, forest.estimators_features_, forest.max_samples_)

    @classmethod
    def from_trees(
        cls, trees: Sequence[Tree], columns: Sequence[np.ndarray], max_samples: int
    ) -> ForestScorer:
        """From fitted trees, each with the columns it was fitted on."""
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

    def leaves(self, rows: np.ndarray) -> np.ndarray:
        """The node each row ends at in each tree (rows by trees), as `isolation` walks."""
        x = np.asarray(rows, dtype=np.float32)
        missing = np.isnan(x)
        at = np.arange(len(x))[:, None]
        nodes = np.broadcast_to(self.roots, (len(x), len(self.roots)))
        for _ in range(self.depth):
            column = self.feature[nodes]
            goes_left = x[at, column] <= self.value[nodes]  # compared in float64
            goes_left |= missing[at, column] & self.nan_left[nodes]
            nodes = np.where(goes_left, self.left[nodes], self.right[nodes])
        return nodes


def sklearn_tree(tree: Any) -> Tree:
    """The nodes of one of scikit-learn's fitted trees (`sklearn.tree._tree.Tree`)."""
    return Tree(
        children_left=tree.children_left,
        children_right=tree.children_right,
        feature=tree.feature,
        threshold=tree.threshold,
        missing_go_to_left=np.asarray(tree.missing_go_to_left, dtype=np.bool_),
        n_node_samples=tree.n_node_samples,
        impurity=tree.impurity,
        depth=tree.compute_node_depths() - 1,  # scikit-learn gives the root depth 1
    )


def _tree_nodes(tree: Tree, columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """One tree's nodes: feature (a column of the full row), value, children, NaN side
    and depth, children numbered within the tree."""
    left, right = tree.children_left, tree.children_right
    leaf = left == LEAF
    # sklearn counts the nodes on the path (depth + 1), then subtracts 1 again.
    path = tree.depth + average_path_length(tree.n_node_samples)
    here = np.arange(len(left))
    feature = np.where(leaf, 0, columns[np.maximum(tree.feature, 0)])
    value = np.where(leaf, path, tree.threshold)
    return (feature, value, np.where(leaf, here, left), np.where(leaf, here, right),
            tree.missing_go_to_left, tree.depth)


@cache
def isolation_forest() -> type[IsolationForest]:
    """scikit-learn's IsolationForest class, imported at the first call: only a forest an
    older version stored as a pickle needs it (a second of CPU to import)."""
    from sklearn.ensemble import IsolationForest

    return IsolationForest


def fit_forest(
    rows: np.ndarray, *, n_estimators: int, max_samples: int, random_state: int
) -> tuple[ForestScorer, np.ndarray]:
    """The forest `IsolationForest(n_estimators=n_estimators, max_samples=max_samples,
    random_state=random_state).fit(rows)` fits, and the rows' isolation scores
    (`-score_samples(rows)`), the same numbers to the last bit.

    Each random number is drawn as `IsolationForest` and its bagging draw it: the targets
    and the trees' seeds from `random_state`; for each tree, its own seed, then its rows,
    from the tree's seed, and the seed of the tree builder's generator from its own. One
    `RandomState` is seeded again for each draw instead of a new one built: the same
    numbers. Each tree is grown as scikit-learn grows it (`isolation_tree`); the tests
    hold the trees to `IsolationForest`'s.
    """
    x = np.ascontiguousarray(rows, dtype=np.float32)
    trees = isolation_trees(
        x, n_estimators=n_estimators, max_samples=max_samples, random_state=random_state
    )
    scorer = ForestScorer.from_trees(trees, [np.arange(x.shape[1])] * len(trees), max_samples)
    return scorer, _training_scores(scorer, trees, x, max_samples)


def isolation_trees(
    x: np.ndarray, *, n_estimators: int, max_samples: int, random_state: int
) -> list[Tree]:
    """The trees of `fit_forest`, each fitted on all the columns."""
    n = len(x)
    if not 1 <= max_samples <= n:
        raise ValueError(f"max_samples={max_samples} with {n} rows")
    rng = np.random.RandomState(random_state)
    # Random targets: only a node's impurity reads them (a leaf once it is zero).
    data = Rows.of(x, rng.uniform(size=n))
    rng.seed(random_state)
    seeds = rng.randint(MAX_SEED, size=n_estimators)
    max_depth = int(np.ceil(np.log2(max(max_samples, 2))))
    trees = []
    for seed in seeds:
        rng.seed(seed)
        tree_seed = rng.randint(MAX_SEED)
        rng.seed(seed)
        # The bagging draws the columns first: all of them, which takes no random number.
        chosen = draw_rows(n, max_samples, rng)
        rng.seed(tree_seed)
        trees.append(grow(data, chosen, max_depth, int(rng.randint(0, RAND_R_MAX))))
    return trees


def _training_scores(
    scorer: ForestScorer, trees: Sequence[Tree], x: np.ndarray, max_samples: int
) -> np.ndarray:
    """`IsolationForest._compute_score_samples`, step for step (its rounding too): each
    tree's path lengths are added in turn, as it adds them."""
    depth = np.concatenate([tree.depth for tree in trees])
    count = np.concatenate([tree.n_node_samples for tree in trees])
    # Its path length at each node: the depth counted from 1, plus c(n), less 1.
    path = (depth + 1) + _sklearn_path_length(count) - 1.0
    depths = np.zeros(len(x), order="F")
    for leaves in scorer.leaves(x).T:
        depths += path[leaves]
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
