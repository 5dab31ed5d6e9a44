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
from dataclasses import dataclass

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
        cluster = self.tree_search(self.root_node, tokens, self.sim_th, True)
        absorbed: tuple[int, ...] = ()
        leaf = self._leaf(tokens) if cluster is None else None
        if leaf is not None and self.variable_after > 1 and len(tokens) >= 2:
            cluster, absorbed = self._merge_varied(leaf, tokens)
        if cluster is None and leaf is not None and self._full(leaf):
            cluster = self.fast_match(leaf.cluster_ids, tokens, 0.0, True)  # the likest
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
            absorbed += self._absorb_covered(cluster, self._leaf(tokens) if leaf is None else leaf)
        cluster.size += 1
        self.id_to_cluster[cluster.cluster_id]  # touch: Drain's LRU order
        return DrainResult(cluster, change, absorbed)

    def get_seq_distance(
        self, seq1: tuple[str, ...], seq2: list[str], include_params: bool
    ) -> tuple[float, int]:
        """Drain's similarity of a template (`seq1`) and a line, with rules 1 and 2 above."""
        if not seq1:
            return 1.0, 0
        similar = params = 0
        wildcard = self.param_str
        for have, new in zip(seq1, seq2, strict=True):
            if have == wildcard:
                params += 1
            elif have == new or (have in PLACEHOLDERS and new in PLACEHOLDERS):
                similar += 1
        return (similar + params if include_params else similar) / len(seq1), params

    def touch(self, cluster: LogCluster) -> None:
        """What `add` does to a cluster a line matches unchanged."""
        cluster.size += 1
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
        self, leaf: Node, tokens: list[str]
    ) -> tuple[LogCluster | None, tuple[int, ...]]:
        by_position: defaultdict[int, list[LogCluster]] = defaultdict(list)
        wildcard = self.param_str
        for cluster_id in leaf.cluster_ids:
            cluster = self.id_to_cluster.get(cluster_id)
            if cluster is None:
                continue
            differ = _differences(cluster.log_template_tokens, tokens, wildcard)
            if len(differ) == 1:
                by_position[differ[0]].append(cluster)
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


def _differences(template: tuple[str, ...], tokens: list[str], wildcard: str) -> list[int]:
    """Positions where the line has another token than the template's (not a wildcard)."""
    pairs = enumerate(zip(template, tokens, strict=True))
    return [i for i, (have, new) in pairs if have != new and have != wildcard]


def _covers(template: tuple[str, ...], narrower: tuple[str, ...], wildcard: str) -> bool:
    """Whether every line of the narrower template fits the template."""
    return all(have in (wildcard, old) for have, old in zip(template, narrower, strict=True))


def _cluster_id(cluster: LogCluster) -> int:
    return cluster.cluster_id
