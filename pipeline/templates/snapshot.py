"""Miner snapshots: Drain's clusters and prefix tree plus our stats, as compressed msgpack.

Drain3 persists itself with jsonpickle, which can build any object named in its input;
this format holds only plain values, so loading a snapshot cannot run code.
"""

from __future__ import annotations

import zlib

import msgspec
from drain3.drain import Drain, LogCluster, LogClusterCache, Node

from pipeline.templates.table import TemplateStats

_MAGIC = b"LWTM1"


class SnapshotError(ValueError):
    """The bytes are not a snapshot this code can load; start a fresh miner instead."""


class NodeState(msgspec.Struct, array_like=True):
    children: dict[str, NodeState]
    cluster_ids: list[int]


class ClusterState(msgspec.Struct, array_like=True):
    cluster_id: int
    tokens: list[str]
    size: int


class StatsState(msgspec.Struct, array_like=True):
    template_id: str
    template: str
    count: int
    first_seen_ns: int
    last_seen_ns: int


class MinerState(msgspec.Struct):
    settings: str
    max_templates: int
    max_lineage: int
    clusters_counter: int
    clusters: list[ClusterState]  # least recently used first
    tree: NodeState
    stats: list[StatsState]  # least recently seen first
    lineage: list[tuple[str, str]]  # oldest first


def encode(state: MinerState) -> bytes:
    return _MAGIC + zlib.compress(msgspec.msgpack.encode(state), 6)


def decode(data: bytes) -> MinerState:
    """The state in `data`; raises SnapshotError for anything else."""
    if not data.startswith(_MAGIC):
        raise SnapshotError("not a template miner snapshot (or an older format)")
    try:
        return msgspec.msgpack.decode(zlib.decompress(data[len(_MAGIC) :]), type=MinerState)
    except (zlib.error, msgspec.DecodeError) as exc:
        raise SnapshotError(f"template miner snapshot is damaged: {exc}") from exc


def capture_clusters(drain: Drain, order: list[int]) -> list[ClusterState]:
    """Clusters in `order` (ids), read without touching Drain's LRU order."""
    found = (drain.id_to_cluster.get(cid) for cid in order)
    return [ClusterState(c.cluster_id, list(c.log_template_tokens), c.size) for c in found if c]


def capture_tree(node: Node) -> NodeState:
    children = {key: capture_tree(child) for key, child in node.key_to_child_node.items()}
    return NodeState(children, list(node.cluster_ids))


def rebuild_tree(state: NodeState) -> Node:
    node = Node()
    node.key_to_child_node = {key: rebuild_tree(child) for key, child in state.children.items()}
    node.cluster_ids = list(state.cluster_ids)
    return node


def install(drain: Drain, state: MinerState, max_clusters: int) -> None:
    """Puts the snapshot's clusters (oldest evicted first if over `max_clusters`) and
    prefix tree into a fresh Drain, as Drain3's own `load_state` does."""
    cache = LogClusterCache(maxsize=max_clusters)
    for c in state.clusters:
        cluster = LogCluster(c.tokens, c.cluster_id)
        cluster.size = c.size
        cache[c.cluster_id] = cluster
    drain.id_to_cluster = cache
    drain.clusters_counter = state.clusters_counter
    drain.root_node = rebuild_tree(state.tree)


def stats_states(stats: list[TemplateStats]) -> list[StatsState]:
    return [
        StatsState(s.template_id, s.template, s.count, s.first_seen_ns, s.last_seen_ns)
        for s in stats
    ]


def stats_from_states(states: list[StatsState]) -> list[TemplateStats]:
    return [
        TemplateStats(s.template_id, s.template, s.count, s.first_seen_ns, s.last_seen_ns)
        for s in states
    ]
