"""Drain with two changes that keep one event in one template on logs never seen before.

1. A wildcard counts as a match. Stock Drain leaves `<*>` out of the similarity, so a
   7-token template holding one `<*>` scores 6/7 against a line it fits exactly, below a
   threshold of 0.87: every later line of that event started a template of its own.
2. Two placeholders of masking count as a match: a value that is a time in one line
   and a duration in the next ("lifetime 00:01" / "lifetime <1 sec") is one variable.
3. A token position that took many values is a parameter. When a line would start a
   new template, and `variable_after - 1` templates of its leaf already differ from it
   at one same position only (and from each other there), that position varies: the
   oldest of them takes `<*>` there and absorbs the others. Two or three values at a
   position ("HTTPS" / "SOCKS5") stay separate events; an id that changes with every
   line ("an14", "an15", ...) does not make a template per line.
4. A leaf holds at most `leaf_limit` templates. Free text after a fixed prefix (search
   queries, user input in a message) would otherwise start a template per line, and
   each line is compared with every template of its leaf: mining slowed with the
   leaf's size, to milliseconds a line. A line that matches none in a full leaf joins
   the one it is most like, which takes `<*>` where they differ and absorbs the
   leaf's templates it now covers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from operator import and_, eq

from drain3.drain import Drain, LogCluster, Node

from pipeline.templates.masking import PLACEHOLDERS


@dataclass(frozen=True, slots=True)
class DrainResult:
    """The cluster a line joined; `absorbed` lists clusters merged into it (ids)."""

    cluster: LogCluster
    change: str  # "cluster_created", "cluster_template_changed" or "none"
    absorbed: tuple[int, ...] = ()


class ParameterDrain(Drain):
    """Drain3's tree and clusters (so snapshots stay plain), with the rules above."""

    def __init__(self, *, variable_after: int, leaf_limit: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.variable_after = variable_after
        self.leaf_limit = leaf_limit

    def add(self, tokens: list[str]) -> DrainResult:
        """Learns from one tokenized line; `Drain.add_log_message` with the rules above."""
        leaf = self._leaf(tokens)  # Drain's `tree_search`, walked once for every rule
        # Each template's agreement with the line, worked out once for the rules below
        # that compare them (up to three passes over a leaf); none changes a template
        # before the last of them.
        agreed: dict[int, tuple[int, int]] = {}
        cluster = None if leaf is None else self._likest(
            leaf.cluster_ids, tokens, self.sim_th, True, agreed)
        absorbed: tuple[int, ...] = ()
        if cluster is None and leaf is not None:
            if self.variable_after > 1 and len(tokens) >= 2:
                cluster, absorbed = self._merge_varied(leaf, tokens, agreed)
            if cluster is None and self._full(leaf):
                cluster = self._likest(leaf.cluster_ids, tokens, 0.0, True, agreed)
        if cluster is None:
            self.clusters_counter += 1
            cluster = LogCluster(tokens, self.clusters_counter)
            self.id_to_cluster[cluster.cluster_id] = cluster
            self.add_seq_to_prefix_tree(self.root_node, cluster)
            return DrainResult(cluster, "cluster_created")
        template = tuple(self.create_template(tokens, cluster.log_template_tokens))
        change = "none"
        if template != cluster.log_template_tokens:
            cluster.log_template_tokens = template
            change = "cluster_template_changed"
            absorbed += self._absorb_covered(cluster, leaf)
        cluster.size += 1
        self.id_to_cluster[cluster.cluster_id]  # touch: Drain's LRU order
        return DrainResult(cluster, change, absorbed)

    def fast_match(
        self, cluster_ids: Sequence[int], tokens: list[str], sim_th: float, include_params: bool
    ) -> LogCluster | None:
        """Drain's most similar cluster of `cluster_ids` (ties: more wildcards), if it
        reaches `sim_th`. The line's placeholders are found once, not once per template."""
        return self._likest(cluster_ids, tokens, sim_th, include_params, {})

    def _likest(self, cluster_ids: Sequence[int], tokens: list[str], sim_th: float,
                include_params: bool, agreed: dict[int, tuple[int, int]]) -> LogCluster | None:
        """`fast_match`, keeping each template's `_agreement` with the line in `agreed`."""
        places = _placeholder_positions(tokens)
        best, best_similarity, best_params = None, -1.0, -1
        for cluster_id in cluster_ids:
            cluster = self.id_to_cluster.get(cluster_id)  # no LRU touch: only a candidate
            if cluster is None:
                continue
            similarity, params = self._similarity(
                cluster.log_template_tokens, tokens, places, include_params,
                self._agreement_with(cluster, tokens, agreed))
            if similarity > best_similarity or (
                    similarity == best_similarity and params > best_params):
                best, best_similarity, best_params = cluster, similarity, params
        return best if best_similarity >= sim_th else None

    def get_seq_distance(
        self, seq1: tuple[str, ...], seq2: list[str], include_params: bool
    ) -> tuple[float, int]:
        """Drain's similarity of a template (`seq1`) and a line, with rules 1 and 2 above."""
        agreement = _agreement(seq1, seq2, self.param_str) if seq1 else (0, 0)
        return self._similarity(seq1, seq2, _placeholder_positions(seq2), include_params,
                                agreement)

    def _similarity(self, template: Sequence[str], tokens: Sequence[str], places: list[int],
                    include_params: bool, agreement: tuple[int, int]) -> tuple[float, int]:
        if not template:
            return 1.0, 0
        similar, params = agreement
        # Rule 2, where the line holds a placeholder (`places`): another one there matches.
        similar += sum(1 for i in places
                       if (have := template[i]) != tokens[i] and have in PLACEHOLDERS)
        return (similar + params if include_params else similar) / len(template), params

    def _agreement_with(self, cluster: LogCluster, tokens: list[str],
                        agreed: dict[int, tuple[int, int]]) -> tuple[int, int]:
        """`_agreement` of the cluster's template and the line, kept in `agreed`."""
        found = agreed.get(cluster.cluster_id)
        if found is None:
            found = agreed[cluster.cluster_id] = _agreement(
                cluster.log_template_tokens, tokens, self.param_str)
        return found

    def touch(self, cluster: LogCluster, lines: int = 1) -> None:
        """What `add` does to a cluster a line matches unchanged (`lines` times over)."""
        cluster.size += lines
        self.id_to_cluster[cluster.cluster_id]  # touch: Drain's LRU order

    def _leaf(self, tokens: list[str]) -> Node | None:
        """The node whose clusters `tree_search` compares the line with."""
        node = self.root_node.key_to_child_node.get(str(len(tokens)))
        depth = 1
        for token in tokens:
            if node is None or depth >= self.max_node_depth or depth == len(tokens):
                break
            children = node.key_to_child_node
            node = children.get(token) or children.get(self.param_str)
            depth += 1
        return node

    def _merge_varied(
        self, leaf: Node, tokens: list[str], agreed: dict[int, tuple[int, int]]
    ) -> tuple[LogCluster | None, tuple[int, ...]]:
        by_position: defaultdict[int, list[LogCluster]] = defaultdict(list)
        wildcard = self.param_str
        for cluster_id in leaf.cluster_ids:
            cluster = self.id_to_cluster.get(cluster_id)
            if cluster is None:
                continue
            position = _sole_difference(cluster.log_template_tokens, tokens, wildcard,
                                        self._agreement_with(cluster, tokens, agreed))
            if position is not None:
                by_position[position].append(cluster)
        for position in sorted(by_position):
            siblings = by_position[position]
            if len(siblings) + 1 >= self.variable_after:
                return self._absorb(leaf, sorted(siblings, key=_cluster_id))
        return None, ()

    def _full(self, leaf: Node) -> bool:
        live = sum(1 for cluster_id in leaf.cluster_ids if cluster_id in self.id_to_cluster)
        return live >= self.leaf_limit

    def _absorb_covered(self, widened: LogCluster, leaf: Node | None) -> tuple[int, ...]:
        """Rule 4: in a full leaf, the templates a widened one now covers merge into it."""
        if leaf is None or not self._full(leaf):
            return ()
        template, wildcard = widened.log_template_tokens, self.param_str
        covered = [c for i in leaf.cluster_ids
                   if (c := self.id_to_cluster.get(i)) is not None and c is not widened
                   and _covers(template, c.log_template_tokens, wildcard)]
        return self._absorb(leaf, [widened, *covered])[1]

    def _absorb(
        self, leaf: Node, siblings: list[LogCluster]
    ) -> tuple[LogCluster, tuple[int, ...]]:
        # `add` then puts <*> in the keeper's template where the line differs from it.
        keeper, others = siblings[0], siblings[1:]
        for other in others:
            keeper.size += other.size
            del self.id_to_cluster[other.cluster_id]
            leaf.cluster_ids.remove(other.cluster_id)
        return keeper, tuple(o.cluster_id for o in others)


# The comparisons below run for every template of a leaf a new line meets, so they count
# with `map` over the tokens (a loop in C) and walk them in Python only to find one place.
def _placeholder_positions(tokens: Sequence[str]) -> list[int]:
    if PLACEHOLDERS.isdisjoint(tokens):
        return []
    return [i for i, token in enumerate(tokens) if token in PLACEHOLDERS]


def _agreement(template: Sequence[str], tokens: Sequence[str], wildcard: str) -> tuple[int, int]:
    """Positions where the line repeats the template's token (wildcards aside), and the
    template's wildcards."""
    if len(template) != len(tokens):
        raise ValueError(f"a template of {len(template)} tokens and a line of {len(tokens)}")
    same = sum(map(eq, template, tokens))
    wildcards = template.count(wildcard)
    if wildcards and wildcard in tokens:  # a line holding a literal `<*>` where one is
        same -= sum(map(and_, map(eq, template, tokens), map(wildcard.__eq__, template)))
    return same, wildcards


def _sole_difference(template: Sequence[str], tokens: Sequence[str], wildcard: str,
                     agreement: tuple[int, int] | None = None) -> int | None:
    """The one position where the line has another token than the template's (not a
    wildcard); None unless there is exactly one. `agreement`: `_agreement` of the two,
    when it is known."""
    same, wildcards = agreement or _agreement(template, tokens, wildcard)
    if len(template) - same - wildcards != 1:
        return None
    pairs = enumerate(zip(template, tokens, strict=True))
    return next(i for i, (have, new) in pairs if have != new and have != wildcard)


def _covers(template: tuple[str, ...], narrower: tuple[str, ...], wildcard: str) -> bool:
    """Whether every line of the narrower template fits the template."""
    return all(have in (wildcard, old) for have, old in zip(template, narrower, strict=True))


def _cluster_id(cluster: LogCluster) -> int:
    return cluster.cluster_id
