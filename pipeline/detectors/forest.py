"""A fitted IsolationForest as a few flat arrays, and scoring one window with them.

`IsolationForest.score_samples` dispatches every tree through joblib, which costs
about 0.3 ms a tree even for one row, and keeping the fitted forest meant pickling it
(and unpickling it, with scikit-learn imported, in every worker that scores). The
trees are kept instead as the arrays a walk needs: each node's feature, threshold (or,
at a leaf, its path length, precomputed with the formula of Liu et al. as scikit-learn
computes it) and children. All trees are walked together, one level at a time. The
numbers are the same as walking each tree with scikit-learn's own `apply`; a test holds
them to `score_samples`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import msgspec
import numpy as np

if TYPE_CHECKING:  # sklearn takes seconds to import; a run that fits no forest skips it
    from sklearn.ensemble import IsolationForest

EULER_GAMMA = 0.5772156649
NODE_INDEX = np.int32


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


def _node_depths(children_left: np.ndarray, children_right: np.ndarray) -> np.ndarray:
    depths = np.zeros(len(children_left), dtype=np.float64)
    for node in range(len(children_left)):  # parents come before their children
        for child in (children_left[node], children_right[node]):
            if child != -1:
                depths[child] = depths[node] + 1
    return depths


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
        parts = [
            _tree_nodes(estimator.tree_, np.asarray(columns))
            for estimator, columns in zip(
                forest.estimators_, forest.estimators_features_, strict=True
            )
        ]
        sizes = [len(part[0]) for part in parts]
        roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(NODE_INDEX)
        feature, value, left, right, nan_left, depths = (
            np.concatenate(column) for column in zip(*parts, strict=True)
        )
        left, right = left + np.repeat(roots, sizes), right + np.repeat(roots, sizes)
        samples = np.array([forest.max_samples_])
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
    depth = _node_depths(left, right)
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
