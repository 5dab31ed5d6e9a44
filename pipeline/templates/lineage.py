"""Which template ids became which when Drain generalized them; bounded, oldest forgotten."""

from __future__ import annotations

from collections import OrderedDict


class Lineage:
    """Links old id -> new id, with the reverse index that `ancestors` needs.

    Links always add wildcards (a template only ever generalizes), so they cannot form
    a loop; the walks are bounded all the same.
    """

    def __init__(self, max_links: int) -> None:
        self.max_links = max_links
        self._newer: OrderedDict[str, str] = OrderedDict()
        self._older: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return len(self._newer)

    def link(self, old_id: str, new_id: str) -> None:
        self.unlink(old_id)
        self._newer[old_id] = new_id
        self._older.setdefault(new_id, []).append(old_id)
        while len(self._newer) > self.max_links:
            self.unlink(next(iter(self._newer)))

    def unlink(self, old_id: str) -> None:
        """Forgets where `old_id` went (it is live again, or the link is too old)."""
        new_id = self._newer.pop(old_id, None)
        if new_id is None:
            return
        siblings = self._older[new_id]
        siblings.remove(old_id)
        if not siblings:
            del self._older[new_id]

    def resolve(self, template_id: str) -> str:
        """The newest id that `template_id` leads to (itself when it has no link)."""
        for _ in range(len(self._newer) + 1):
            newer = self._newer.get(template_id)
            if newer is None:
                break
            template_id = newer
        return template_id

    def ancestors(self, template_id: str) -> tuple[str, ...]:
        """Every id that leads to `template_id`, nearest first."""
        found: list[str] = []
        frontier = [template_id]
        while frontier and len(found) <= len(self._newer):
            frontier = [old for new in frontier for old in self._older.get(new, ())]
            found.extend(frontier)
        return tuple(found)

    def items(self) -> list[tuple[str, str]]:
        """Every kept link, oldest first."""
        return list(self._newer.items())
