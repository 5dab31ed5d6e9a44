"""TemplateMiner: Drain3 behind a typed interface, with ids that depend on the text only.

A template id is a hash of the template text, so the same line gets the same id in
any worker and after a restart (DESIGN.md invariant 4). When Drain generalizes a
template (a token becomes `<*>`, or templates that differ in one varying token merge)
the id changes; the old id is linked to the new one and `resolve` follows the links,
so anything stored under an old id still finds it.

A message met before is not masked again, and a masked line met before skips Drain's
tree walk: bounded LRUs map them to their masked text and their cluster. The second is
emptied whenever a template is created, generalized or evicted, the only events that
could send the line elsewhere, so it never changes an answer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from drain3.drain import LogCluster

from pipeline.lru import BoundedLru
from pipeline.templates import snapshot
from pipeline.templates.drain import DrainResult
from pipeline.templates.masking import LogMasker, default_rules
from pipeline.templates.results import TemplateChange, TemplateMatch, template_id
from pipeline.templates.settings import DEFAULT_SETTINGS, MiningSettings, build_drain
from pipeline.templates.table import TemplateStats, TemplateTable


class TemplateMiner:
    """Mines log lines into templates; holds at most `max_templates` of them.

    The least recently seen template is evicted first (Drain's LRU cluster cache,
    mirrored by our stats). `seen_lines` bounds each of the two caches (0: none): at
    16,384 lines of about 100 characters, a few megabytes. It is sized to hold a busy
    service's distinct lines between two sightings: an LRU smaller than the cycle a
    stream repeats its lines in misses on every line, and masking a line costs tens of
    microseconds while a hit costs one. `seen_chars` bounds the characters each cache
    holds, so a service of stack traces holds fewer of them, not 30 times the memory.
    Not thread-safe: one miner per worker process.
    """

    def __init__(
        self,
        max_templates: int = 10_000,
        *,
        max_lineage: int | None = None,
        settings: MiningSettings = DEFAULT_SETTINGS,
        seen_lines: int = 16_384,
        seen_chars: int = 4 * 2**20,
    ) -> None:
        if max_templates < 1:
            raise ValueError(f"max_templates must be at least 1, not {max_templates}")
        self.max_templates = max_templates
        self.settings = settings
        self._drain = build_drain(settings, max_templates)
        self._mask = LogMasker(default_rules(settings.words_with_numbers)).mask
        self._table = TemplateTable(max_templates if max_lineage is None else max_lineage)
        self._cluster_ids: OrderedDict[int, str] = OrderedDict()  # LRU order, as Drain's
        self._seen = BoundedLru[str, LogCluster](seen_lines, seen_chars)  # masked -> cluster
        self._masks = BoundedLru[str, str](seen_lines, seen_chars)  # message -> masked line

    def mine(self, message: str, timestamp_ns: int) -> TemplateMatch:
        """Learns from one line and returns its template; never raises on odd text."""
        masked = self._masked(message)
        cluster = self._seen.get(masked)
        if cluster is None:
            return self._walked(masked, timestamp_ns)
        self._drain.touch(cluster)
        match = self._unchanged(cluster.cluster_id)
        self._table.record(match.template_id, timestamp_ns)
        return match

    def mine_many(self, lines: Iterable[tuple[str, int]]) -> list[TemplateMatch]:
        """`mine` for each (message, timestamp_ns) pair, in order, with the same answers
        and the same miner after.

        A line whose masked text was met before (in `_seen`) is only noted: what `mine`
        does for it (its cluster's count, Drain's and our LRU orders, its template's
        stats) is done once per template, in the order of their last lines, before
        anything that reads it (a line Drain must walk) and at the end. Line by line, it
        was two thirds of the cost of mining a line met before."""
        matches: list[TemplateMatch] = []
        met: dict[int, _Sightings] = {}  # the clusters met again since the last settling
        order: list[int] = []  # their ids, a line each
        try:
            for message, timestamp_ns in lines:
                masked = self._masked(message)
                cluster = self._seen.get(masked)
                if cluster is None:
                    self._settle(met, order)
                    matches.append(self._walked(masked, timestamp_ns))
                    continue
                cluster_id = cluster.cluster_id
                sightings = met.get(cluster_id)
                if sightings is None:
                    met[cluster_id] = sightings = _Sightings(
                        cluster, self._current_match(cluster_id), timestamp_ns)
                else:
                    sightings.add(timestamp_ns)
                order.append(cluster_id)
                matches.append(sightings.match)
        finally:
            self._settle(met, order)
        return matches

    def match(self, message: str) -> TemplateMatch | None:
        """The current template that fits the line exactly, learning nothing; or None."""
        cluster = self._drain.match(self._masked(message), full_search_strategy="fallback")
        if cluster is None:
            return None
        known = self._cluster_ids.get(cluster.cluster_id) or template_id(cluster.get_template())
        return TemplateMatch(known, cluster.get_template(), TemplateChange.NONE)

    def resolve(self, template_id: str) -> str:
        """The current id of a template, following generalizations; unknown ids as is."""
        return self._table.lineage.resolve(template_id)

    def ancestors(self, template_id: str) -> tuple[str, ...]:
        """The ids this template replaced when it generalized (nearest first)."""
        return self._table.lineage.ancestors(template_id)

    def template_text(self, template_id: str) -> str | None:
        """The text of a current template (after `resolve`), or None if unknown."""
        return self._table.text(self.resolve(template_id))

    def stats(self, template_id: str) -> TemplateStats | None:
        """Counts of the template this id resolves to; None once it was evicted."""
        return self._table.stats(self.resolve(template_id))

    def templates(self) -> list[TemplateStats]:
        """Every current template, least recently seen first."""
        return self._table.all_stats()

    def template_count(self) -> int:
        """How many templates `templates` would list, without listing them."""
        return len(self._table)

    def snapshot(self) -> bytes:
        """The whole miner as bytes for `restore` (safe to load: plain values only)."""
        order = list(self._cluster_ids)
        return snapshot.encode(
            snapshot.MinerState(
                settings=self.settings.fingerprint(),
                max_templates=self.max_templates,
                max_lineage=self._table.lineage.max_links,
                clusters_counter=self._drain.clusters_counter,
                clusters=snapshot.capture_clusters(self._drain, order),
                tree=snapshot.capture_tree(self._drain.root_node),
                stats=snapshot.stats_states(self._table.all_stats()),
                lineage=self._table.lineage.items(),
            )
        )

    @classmethod
    def restore(
        cls,
        data: bytes,
        *,
        max_templates: int | None = None,
        settings: MiningSettings = DEFAULT_SETTINGS,
    ) -> TemplateMiner:
        """A miner from `snapshot` bytes, optionally with a new bound (oldest dropped).

        Raises SnapshotError when the bytes are damaged or were made with other mining
        settings or masking rules: start a fresh miner then (ids stay the same).
        """
        state = snapshot.decode(data)
        if state.settings != settings.fingerprint():
            raise snapshot.SnapshotError(
                f"snapshot made with other mining settings ({state.settings})"
            )
        miner = cls(
            max_templates or state.max_templates,
            max_lineage=state.max_lineage,
            settings=settings,
        )
        snapshot.install(miner._drain, state, miner.max_templates)
        for kept in state.clusters:
            cluster = miner._drain.id_to_cluster.get(kept.cluster_id)
            if cluster is not None:  # None: dropped by a smaller `max_templates`
                miner._attach(cluster)
        miner._table.load(snapshot.stats_from_states(state.stats), state.lineage)
        return miner

    def _masked(self, message: str) -> str:
        text = message[: self.settings.max_message_chars]
        masked = self._masks.get(text)
        if masked is not None:  # the same message again: masking is pure
            return masked
        clean = text
        if not clean.isascii():  # lone surrogates can be neither hashed nor stored as UTF-8
            clean = clean.encode("utf-8", "replace").decode("utf-8")
        masked = self._mask(clean)
        self._masks.put(text, masked, len(text))
        return masked

    def _walked(self, masked: str, timestamp_ns: int) -> TemplateMatch:
        """`mine` for a line that Drain's tree must place (not in `_seen`)."""
        match = self._learn(masked, self._drain.add(self._drain.get_content_as_tokens(masked)))
        self._table.record(match.template_id, timestamp_ns)
        return match

    def _learn(self, masked: str, result: DrainResult) -> TemplateMatch:
        cluster = result.cluster
        known = self._cluster_ids.get(cluster.cluster_id)
        if result.change == "none" and known is not None:
            self._seen.put(masked, cluster, len(masked))
            return self._unchanged(cluster.cluster_id)
        self._seen.clear()  # the tree changed: a line met before may now go elsewhere
        if known is None:
            return self._created(cluster)
        match = self._generalized(cluster, known)
        for absorbed in result.absorbed:
            old_id = self._cluster_ids.pop(absorbed, None)
            if old_id is not None:
                self._table.merge(old_id, match.template_id)
        return match

    def _unchanged(self, cluster_id: int) -> TemplateMatch:
        self._cluster_ids.move_to_end(cluster_id)
        return self._current_match(cluster_id)

    def _current_match(self, cluster_id: int) -> TemplateMatch:
        known = self._cluster_ids[cluster_id]
        return TemplateMatch(known, self._table.text(known) or "", TemplateChange.NONE)

    def _settle(self, met: dict[int, _Sightings], order: list[int]) -> None:
        """Does for the clusters `met` what `mine` does for a line met before, once for
        all their lines; `order` lists their ids, a line each, and both are emptied."""
        if not met:
            return
        # Each cluster once, where its last line puts it: LRU orders end up as they would.
        for cluster_id in reversed(dict.fromkeys(reversed(order))):
            sightings = met[cluster_id]
            self._drain.touch(sightings.cluster, sightings.count)
            self._cluster_ids.move_to_end(cluster_id)
            self._table.record_many(sightings.match.template_id, sightings.count,
                                    sightings.earliest_ns, sightings.latest_ns)
        met.clear()
        order.clear()

    def _created(self, cluster: LogCluster) -> TemplateMatch:
        new_id = self._attach(cluster)
        if len(self._cluster_ids) > self.max_templates:
            _, evicted = self._cluster_ids.popitem(last=False)  # as Drain's cache just did
            self._table.detach(evicted)
        return TemplateMatch(new_id, cluster.get_template(), TemplateChange.CREATED)

    def _generalized(self, cluster: LogCluster, old_id: str) -> TemplateMatch:
        text = cluster.get_template()
        new_id = template_id(text)
        self._cluster_ids[cluster.cluster_id] = new_id
        self._cluster_ids.move_to_end(cluster.cluster_id)
        self._table.generalize(old_id, new_id, text)
        return TemplateMatch(new_id, text, TemplateChange.GENERALIZED, old_id)

    def _attach(self, cluster: LogCluster) -> str:
        text = cluster.get_template()
        new_id = template_id(text)
        self._cluster_ids[cluster.cluster_id] = new_id
        self._table.attach(new_id, text)
        return new_id


class _Sightings:
    """The lines of one cluster met again (`TemplateMiner.mine_many`), until settled."""

    __slots__ = ("cluster", "count", "earliest_ns", "latest_ns", "match")

    def __init__(self, cluster: LogCluster, match: TemplateMatch, timestamp_ns: int) -> None:
        self.cluster = cluster
        self.match = match
        self.count = 1
        self.earliest_ns = self.latest_ns = timestamp_ns

    def add(self, timestamp_ns: int) -> None:
        self.count += 1
        if timestamp_ns < self.earliest_ns:
            self.earliest_ns = timestamp_ns
        elif timestamp_ns > self.latest_ns:
            self.latest_ns = timestamp_ns
