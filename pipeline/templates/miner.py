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
from operator import attrgetter, itemgetter

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

        The messages are masked together (`BoundedLru.get_making`). The lines met before
        (their masked text in `_seen`) come in runs, each ended by a line Drain must walk:
        a run is looked up at once, and what `mine` does for its lines (their clusters'
        counts, Drain's and our LRU orders, their templates' stats) is done once per
        template, in the order of their last lines, before the walk. Both caches end up
        as `mine` leaves them, line after line, for less work a line met before."""
        pairs = list(lines)
        messages: list[str] = list(map(_first, pairs))
        times: list[int] = list(map(_second, pairs))
        masked = self._masked_many(messages)
        matches: list[TemplateMatch] = []
        start = 0
        while start < len(masked):
            clusters = self._seen.get_run(masked, start)
            end = start + len(clusters)
            if clusters:
                matches += self._met_again(clusters, times[start:end])
            if end < len(masked):
                matches.append(self._walked(masked[end], times[end]))
            start = end + 1
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
        return self._newly_masked(text)

    def _masked_many(self, messages: list[str]) -> list[str]:
        """`_masked` of each message."""
        limit = self.settings.max_message_chars
        if max(map(len, messages), default=0) > limit:
            texts = [message[:limit] for message in messages]
        else:  # as they are, without a step per message
            texts = messages
        return self._masks.get_making(texts, self._masking, len)

    def _newly_masked(self, text: str) -> str:
        """The masked `text`, not in `_masks`: kept there."""
        masked = self._masking(text)
        self._masks.put(text, masked, len(text))
        return masked

    def _masking(self, text: str) -> str:
        """`text` masked (no cache read or kept)."""
        if not text.isascii():  # lone surrogates can be neither hashed nor stored as UTF-8
            text = text.encode("utf-8", "replace").decode("utf-8")
        return self._mask(text)

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

    def _met_again(self, clusters: list[LogCluster], times: list[int]) -> list[TemplateMatch]:
        """What `mine` does for lines met before (a cluster and a time each), done once per
        cluster, where its last line puts it: LRU orders end up as they would."""
        ids = list(map(_cluster_id, clusters))
        times_of: dict[int, list[int]] = {}
        for cluster_id, timestamp_ns in zip(ids, times, strict=True):
            at = times_of.get(cluster_id)
            if at is None:
                times_of[cluster_id] = [timestamp_ns]
            else:
                at.append(timestamp_ns)
        cluster_of = dict(zip(ids, clusters, strict=True))
        match_of = {cluster_id: self._current_match(cluster_id) for cluster_id in times_of}
        for cluster_id in reversed(dict.fromkeys(reversed(ids))):
            at = times_of[cluster_id]
            self._drain.touch(cluster_of[cluster_id], len(at))
            self._cluster_ids.move_to_end(cluster_id)
            self._table.record_many(match_of[cluster_id].template_id, len(at), min(at), max(at))
        return list(map(match_of.__getitem__, ids))

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


_first, _second = itemgetter(0), itemgetter(1)
_cluster_id = attrgetter("cluster_id")
