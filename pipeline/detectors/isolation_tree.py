"""One isolation tree, grown as scikit-learn 1.9 grows it for `IsolationForest`, to the bit.

`IsolationForest` fits each tree as `ExtraTreeRegressor(max_features=1,
splitter="random")` on random targets: scikit-learn's `DepthFirstTreeBuilder` with a
`RandomSplitter` and the `MSE` criterion. At each node the splitter draws columns until
one is not constant among the node's rows, draws a threshold between that column's
smallest and largest value there, and partitions the rows; a node is a leaf at the
maximum depth, with one row, or when its rows' random targets barely differ.

This module takes the same steps with the same random numbers, scikit-learn's own
xorshift generator (`XorShift`), so that the trees are the same to the last bit, which
keeps scikit-learn and SciPy (most of a second of imports) out of a run:

- float32 values where scikit-learn keeps float32 (the columns; a column is constant when
  its largest value is at most the smallest plus 1e-7 in float32), float64 elsewhere;
- the rows of a node are reordered in place as scikit-learn's partition swaps them, and
  every sum is added up one row at a time in that order, as the criterion adds it;
- the columns found constant at a node are skipped below it, and the order in which the
  draws leave the columns is kept from node to node: both change which column a draw picks.

Only what `IsolationForest` uses is kept: one target, each row weighing 1 (a row the
bagging did not draw is not there at all), `min_samples_split=2`, `min_samples_leaf=1`,
no minimum weight or impurity decrease, no monotonic constraints. The tests hold the trees
to scikit-learn's, node by node.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from operator import add, sub
from typing import NamedTuple

import numpy as np

RAND_R_MAX = 0x7FFF_FFFF  # the generator's largest number (2**31 - 1)
EPSILON = sys.float_info.epsilon  # a node whose impurity is at most this is a leaf
FEATURE_THRESHOLD = np.float32(1e-7)  # a column spread no wider than this is constant
LEAF, UNDEFINED = -1, -2  # scikit-learn's children and feature (and threshold) at a leaf


class XorShift:
    """scikit-learn's `our_rand_r` (32-bit xorshift) with its `rand_int` and `rand_uniform`."""

    __slots__ = ("state",)

    def __init__(self, seed: int) -> None:
        self.state = seed

    def draw(self) -> int:
        state = self.state or 1  # a state of 0 would stay 0
        state ^= (state << 13) & 0xFFFF_FFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFF_FFFF
        self.state = state
        return state & RAND_R_MAX

    def integer(self, low: int, high: int) -> int:
        """In [low, high)."""
        return low + self.draw() % (high - low)

    def uniform(self, low: float, high: float) -> float:
        """In [low, high], in float64, in C's order of operations."""
        return (high - low) * float(self.draw()) / float(RAND_R_MAX) + low


def draw_rows(population: int, size: int, rng: np.random.RandomState) -> list[int]:
    """`sample_without_replacement(population, size, random_state=rng)`: the same rows from
    the same random numbers, each of its three methods picked as it picks them; increasing."""
    ratio = size / population if population else 1.0
    if 0.01 < ratio < 0.99:
        return sorted(rng.permutation(population)[:size].tolist())
    if ratio < 0.2:  # tracking selection: draw again until a new row comes
        chosen: set[int] = set()
        for _ in range(size):
            row = int(rng.randint(population))
            while row in chosen:
                row = int(rng.randint(population))
            chosen.add(row)
        return sorted(chosen)
    reservoir = list(range(size))
    for row in range(size, population):
        slot = int(rng.randint(0, row + 1))
        if slot < size:
            reservoir[slot] = row
    return sorted(reservoir)


@dataclass(frozen=True, slots=True)
class Rows:
    """The rows every tree of a forest is grown from, as the builder reads them."""

    columns: list[list[float]]  # each column's float32 values, as (exact) Python floats
    with_nan: list[bool]  # whether a column holds a NaN: missing values are counted apart
    targets: list[float]  # the random targets, read by the impurity alone
    squares: list[float]  # each target times itself, as the criterion multiplies it
    kinds: list[int]  # the same number for rows of the same bits: every column is constant

    @classmethod
    def of(cls, x: np.ndarray, targets: np.ndarray) -> Rows:
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(targets, dtype=np.float64).tolist()
        seen: dict[bytes, int] = {}
        kinds = [seen.setdefault(row.tobytes(), len(seen)) for row in x]
        return cls(x.T.tolist(), np.isnan(x).any(axis=0).tolist(), y, [t * t for t in y], kinds)


@dataclass(frozen=True, slots=True)
class Tree:
    """A tree's nodes in scikit-learn's order (a node, its left subtree, its right one)
    and conventions: at a leaf, children `LEAF`, feature and threshold `UNDEFINED`."""

    children_left: np.ndarray
    children_right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray  # float64: a row goes left when its value is at most this
    missing_go_to_left: np.ndarray  # where a missing value goes (False at a leaf)
    n_node_samples: np.ndarray
    impurity: np.ndarray  # the variance of the node's targets, as scikit-learn computes it
    depth: np.ndarray  # the root's is 0


def grow(rows: Rows, chosen: Sequence[int], max_depth: int, seed: int) -> Tree:
    """The tree of the rows `chosen` (increasing), the generator seeded with `seed` (what
    `Splitter.init` draws from the tree's `RandomState`)."""
    return _Builder(rows, chosen, seed).build(max_depth)


class _Split(NamedTuple):
    feature: int
    threshold: float
    pos: int  # samples[start:pos] go left, samples[pos:end] right
    nan_left: bool
    impurity_left: float
    impurity_right: float
    improvement: float


class _Candidate(NamedTuple):
    feature: int
    values: list[float]  # the node's values of that column, in the order of its rows
    low: float
    high: float
    missing: int


class _Pending(NamedTuple):
    """A node on the builder's stack."""

    start: int
    end: int
    depth: int
    parent: int
    is_left: bool
    impurity: float
    n_constant: int  # features[:n_constant] are known constant here


class _Builder:
    """`DepthFirstTreeBuilder.build` with `node_split_random`, for one tree."""

    def __init__(self, rows: Rows, chosen: Sequence[int], seed: int) -> None:
        self.rows = rows
        self.samples = list(chosen)  # a node's rows are samples[start:end], reordered in place
        self.total_weight = float(len(self.samples))
        self.rng = XorShift(seed)
        self.features = list(range(len(rows.columns)))  # permuted by the draws, node to node
        self.constants = [0] * len(rows.columns)  # the known constant columns, in order

    def build(self, max_depth: int) -> Tree:
        """Node after node, depth first: a leaf at `max_depth`, with one row, with an
        impurity of at most `EPSILON`, or without a split that improves it by -`EPSILON`."""
        nodes: list[tuple[int, float, bool, int, float, int]] = []
        left: list[int] = []
        right: list[int] = []
        root_impurity = _impurity(*self._sums(0, len(self.samples)), len(self.samples))
        stack = [_Pending(0, len(self.samples), 0, LEAF, False, root_impurity, 0)]
        while stack:
            node = stack.pop()
            here = len(nodes)
            if node.parent != LEAF:
                (left if node.is_left else right)[node.parent] = here
            split, n_constant, size = None, node.n_constant, node.end - node.start
            if node.depth < max_depth and size >= 2 and node.impurity > EPSILON:
                split, n_constant = self._split(node)
            left.append(LEAF)  # a split node's are set when its children are added
            right.append(LEAF)
            if split is None or split.improvement + EPSILON < 0.0:
                nodes.append((UNDEFINED, UNDEFINED, False, size, node.impurity, node.depth))
                continue
            nodes.append((split.feature, split.threshold, split.nan_left, size, node.impurity,
                          node.depth))  # fmt: skip
            child = node.depth + 1
            stack.append(_Pending(split.pos, node.end, child, here, False, split.impurity_right,
                                  n_constant))  # fmt: skip
            stack.append(_Pending(node.start, split.pos, child, here, True, split.impurity_left,
                                  n_constant))  # fmt: skip
        feature, threshold, nan_left, count, impurity, depth = zip(*nodes, strict=True)
        return Tree(
            children_left=np.array(left, dtype=np.intp),
            children_right=np.array(right, dtype=np.intp),
            feature=np.array(feature, dtype=np.intp),
            threshold=np.array(threshold, dtype=np.float64),
            missing_go_to_left=np.array(nan_left, dtype=np.bool_),
            n_node_samples=np.array(count, dtype=np.intp),
            impurity=np.array(impurity, dtype=np.float64),
            depth=np.array(depth, dtype=np.intp),
        )

    def _split(self, node: _Pending) -> tuple[_Split | None, int]:
        """A random split of the node (None: none), and the columns known constant below it."""
        start, end = node.start, node.end
        sums = self._sums(start, end)  # before the partition: the criterion's order
        candidate, n_constant = self._column(start, end, node.n_constant)
        if candidate is None:
            return None, n_constant
        threshold = self.rng.uniform(candidate.low, candidate.high)
        nan_left = candidate.missing > 0 and self.rng.integer(0, 2) == 1
        if threshold == candidate.high:  # rounded up to the largest value: nothing goes right
            threshold = candidate.low
        rows = self.samples[start:end]
        pos = start + _partition(candidate.values, rows, threshold, nan_left)
        self.samples[start:end] = rows
        if pos in (start, end):  # a side without rows (a NaN threshold of an infinite column)
            return None, n_constant
        if not candidate.missing:  # missing values met later go to the larger side
            nan_left = pos - start > end - pos
        impurities = self._children(start, pos, end, *sums, node.impurity)
        return _Split(candidate.feature, threshold, pos, nan_left, *impurities), n_constant

    def _column(self, start: int, end: int, n_known: int) -> tuple[_Candidate | None, int]:
        """Columns drawn (Fisher-Yates over `features`) until one is not constant among the
        node's rows, or none is left; and the count of columns known constant below it.

        `features` holds, in turn, the columns: known constant and drawn here; known
        constant, not drawn yet; found constant here; not drawn yet; drawn, not constant."""
        features, samples = self.features, self.samples[start:end]
        # Rows all alike (duplicates are common): every column is constant, but each is
        # drawn all the same, for the random numbers and the order it leaves.
        alike = len(set(map(self.rows.kinds.__getitem__, samples))) == 1
        f_i, n_drawn, n_found, n_total = len(features), 0, 0, n_known
        candidate = None
        while f_i > n_total:
            f_j = self.rng.integer(n_drawn, f_i - n_found)
            if f_j < n_known:  # constant since an ancestor: not looked at again
                features[n_drawn], features[f_j] = features[f_j], features[n_drawn]
                n_drawn += 1
                continue
            f_j += n_found
            feature = features[f_j]
            candidate = None if alike else self._candidate(feature, samples)
            if candidate is not None:
                f_i -= 1
                features[f_i], features[f_j] = features[f_j], features[f_i]
                break
            features[f_j], features[n_total] = features[n_total], feature
            n_found += 1
            n_total += 1
        # The known constant columns go back to their order for the node's siblings; the
        # ones found here are added for its children.
        features[:n_known] = self.constants[:n_known]
        self.constants[n_known:n_total] = features[n_known:n_total]
        return candidate, n_total

    def _candidate(self, feature: int, samples: list[int]) -> _Candidate | None:
        """The column's values among the rows, unless it is constant there (its largest
        value at most its smallest plus `FEATURE_THRESHOLD`, in float32, or all missing)."""
        column = self.rows.columns[feature]
        values = list(map(column.__getitem__, samples))
        low, high, missing = _min_max(values, self.rows.with_nan[feature])
        if missing == len(values) or (
            not missing and high <= float(np.float32(low) + FEATURE_THRESHOLD)
        ):
            return None
        return _Candidate(feature, values, low, high, missing)

    def _sums(self, start: int, end: int) -> tuple[float, float]:
        """The node's targets and squared targets, each added up one row at a time."""
        rows = self.samples[start:end]
        return _sum(self.rows.targets, rows), _sum(self.rows.squares, rows)

    def _children(
        self, start: int, pos: int, end: int, total: float, squared: float, impurity: float
    ) -> tuple[float, float, float]:
        """The children's impurities and the split's improvement, as `MSE` computes them:
        the left sum from whichever end of the node is nearer, the rest by difference."""
        targets, left = self.rows.targets, self.samples[start:pos]
        if pos - start <= end - pos:
            sum_left = _sum(targets, left)
        else:  # the right side's taken off the total, from the node's last row back
            sum_left = reduce(sub, map(targets.__getitem__, reversed(self.samples[pos:end])), total)
        squared_left = _sum(self.rows.squares, left)
        n, n_left = float(end - start), float(pos - start)
        n_right = n - n_left
        impurity_left = _impurity(sum_left, squared_left, n_left)
        impurity_right = _impurity(total - sum_left, squared - squared_left, n_right)
        improvement = (n / self.total_weight) * (
            impurity - n_right / n * impurity_right - n_left / n * impurity_left
        )
        return impurity_left, impurity_right, improvement


def _sum(values: list[float], rows: list[int]) -> float:
    """The rows' values added up one at a time, in order, from 0.0 (as the criterion adds
    them: not `sum`, which compensates for rounding since Python 3.12)."""
    return reduce(add, map(values.__getitem__, rows), 0.0)


def _impurity(total: float, squared: float, weight: float) -> float:
    """The variance: mean of squares less squared mean (C's `pow(mean, 2.0)` is mean * mean)."""
    mean = total / weight
    return squared / weight - mean * mean


def _min_max(values: list[float], with_nan: bool) -> tuple[float, float, int]:
    """The smallest and largest of the values but missing ones, and how many are missing.
    Of equal values the first is kept, as scikit-learn's loop keeps it (-0.0 is not 0.0)."""
    if with_nan:
        present = [v for v in values if not math.isnan(v)]
        if not present:
            return math.inf, -math.inf, len(values)
        return min(present), max(present), len(values) - len(present)
    return min(values), max(values), 0


def _partition(values: list[float], rows: list[int], threshold: float, nan_left: bool) -> int:
    """The rows whose value is at most the threshold (or missing, if `nan_left`) moved to
    the front, swapped as scikit-learn swaps them; how many they are."""
    low, high = 0, len(values)
    while low < high:
        value = values[low]
        if value <= threshold or (nan_left and math.isnan(value)):
            low += 1
        else:
            high -= 1
            values[low], values[high] = values[high], values[low]
            rows[low], rows[high] = rows[high], rows[low]
    return high
