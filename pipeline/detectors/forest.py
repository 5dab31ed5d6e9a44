"""Scoring one window with a fitted IsolationForest, without per-call overhead.

`IsolationForest.score_samples` dispatches every tree through joblib, which costs
about 0.3 ms a tree even for one row: for one window per batch that was most of a
batch's detection time. This walks the same trees directly (the path-length formula
of Liu et al., as scikit-learn computes it) and gives the same numbers; a test holds it
to `score_samples`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # sklearn takes seconds to import; a run that fits no forest skips it
    from sklearn.ensemble import IsolationForest

EULER_GAMMA = 0.5772156649


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


@dataclass(frozen=True)
class ForestScorer:
    """The fitted trees with each leaf's path length precomputed."""

    trees: tuple[tuple[object, np.ndarray, np.ndarray], ...]  # (tree_, features, path per node)
    denominator: float

    @classmethod
    def from_forest(cls, forest: IsolationForest) -> ForestScorer:
        trees = []
        for estimator, features in zip(
            forest.estimators_, forest.estimators_features_, strict=True
        ):
            tree = estimator.tree_
            depth = _node_depths(tree.children_left, tree.children_right)
            # sklearn counts the nodes on the path (depth + 1), then subtracts 1 again.
            path = depth + average_path_length(tree.n_node_samples)
            trees.append((tree, np.asarray(features), path))
        samples = np.array([forest.max_samples_])
        return cls(tuple(trees), len(trees) * float(average_path_length(samples)[0]))

    def isolation(self, vector: np.ndarray) -> float:
        """The anomaly score of one row: about 0.5 for usual rows, towards 1 for odd ones."""
        row = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        total = 0.0
        for tree, features, path in self.trees:
            leaf = tree.apply(np.ascontiguousarray(row[:, features]))  # type: ignore[attr-defined]
            total += float(path[leaf[0]])
        return float(2.0 ** (-total / self.denominator))
