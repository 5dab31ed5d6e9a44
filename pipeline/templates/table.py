"""Per-template counts and the lineage of generalized templates, both bounded."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from pipeline.templates.lineage import Lineage


@dataclass(frozen=True, slots=True)
class TemplateStats:
    """What is known of one template: its text and when and how often it was seen."""

    template_id: str
    template: str
    count: int
    first_seen_ns: int
    last_seen_ns: int


@dataclass(slots=True)
class _Entry:
    text: str
    count: int = 0
    first_seen_ns: int = 0
    last_seen_ns: int = 0
    clusters: int = 0  # Drain clusters whose template this is (two may share a text)

    def absorb(self, other: _Entry) -> None:
        if other.count == 0:
            return
        if self.count == 0:
            self.first_seen_ns, self.last_seen_ns = other.first_seen_ns, other.last_seen_ns
        else:
            self.first_seen_ns = min(self.first_seen_ns, other.first_seen_ns)
            self.last_seen_ns = max(self.last_seen_ns, other.last_seen_ns)
        self.count += other.count


class TemplateTable:
    """Stats keyed by template id, least recently seen first, and their lineage.

    An entry lives while at least one Drain cluster has its text, so the table is as
    bounded as Drain's cluster cache. The lineage keeps its `max_lineage` newest links.
    """

    def __init__(self, max_lineage: int) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.lineage = Lineage(max_lineage)

    def __len__(self) -> int:
        return len(self._entries)

    def text(self, template_id: str) -> str | None:
        entry = self._entries.get(template_id)
        return entry.text if entry is not None else None

    def attach(self, template_id: str, text: str) -> None:
        """A cluster now has this template; a live id is its own current id."""
        entry = self._entries.get(template_id)
        if entry is None:
            entry = self._entries[template_id] = _Entry(text)
        entry.clusters += 1
        self.lineage.unlink(template_id)

    def detach(self, template_id: str) -> None:
        """A cluster no longer has this template (generalized or evicted)."""
        self._release(template_id)

    def generalize(self, old_id: str, new_id: str, text: str) -> None:
        """A cluster's template became `text`; stats and old references follow it."""
        self.attach(new_id, text)
        gone = self._release(old_id)
        if gone is not None:
            self._entries[new_id].absorb(gone)
            self.lineage.link(old_id, new_id)

    def merge(self, old_id: str, new_id: str) -> None:
        """A cluster with template `old_id` was absorbed into one with `new_id`."""
        gone = self._release(old_id)
        if gone is not None and old_id != new_id:
            self._entries[new_id].absorb(gone)
            self.lineage.link(old_id, new_id)

    def record(self, template_id: str, timestamp_ns: int) -> None:
        self.record_many(template_id, 1, timestamp_ns, timestamp_ns)

    def record_many(self, template_id: str, count: int, earliest_ns: int, latest_ns: int
                    ) -> None:
        """`count` sightings of the template, from `earliest_ns` to `latest_ns` (`record`
        of each of them, in one step)."""
        entry = self._entries[template_id]
        if entry.count == 0 or earliest_ns < entry.first_seen_ns:
            entry.first_seen_ns = earliest_ns
        entry.last_seen_ns = max(entry.last_seen_ns, latest_ns)
        entry.count += count
        self._entries.move_to_end(template_id)

    def stats(self, template_id: str) -> TemplateStats | None:
        entry = self._entries.get(template_id)
        if entry is None:
            return None
        return TemplateStats(
            template_id, entry.text, entry.count, entry.first_seen_ns, entry.last_seen_ns
        )

    def all_stats(self) -> list[TemplateStats]:
        """Every template, least recently seen first."""
        return [s for s in map(self.stats, self._entries) if s is not None]

    def load(self, stats: list[TemplateStats], lineage: list[tuple[str, str]]) -> None:
        """Restores counts for attached templates (others are ignored) and the lineage."""
        for s in stats:
            entry = self._entries.get(s.template_id)
            if entry is not None:
                entry.count, entry.first_seen_ns = s.count, s.first_seen_ns
                entry.last_seen_ns = s.last_seen_ns
                self._entries.move_to_end(s.template_id)
        for old_id, new_id in lineage:
            if old_id not in self._entries:
                self.lineage.link(old_id, new_id)

    def _release(self, template_id: str) -> _Entry | None:
        entry = self._entries.get(template_id)
        if entry is None:
            return None
        entry.clusters -= 1
        if entry.clusters > 0:
            return None
        return self._entries.pop(template_id)
