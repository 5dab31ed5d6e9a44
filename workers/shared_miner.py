"""One template tree for the whole fleet, kept in Redis (invariant 4: same line, same id).

Each worker mines on its own copy. A batch that only meets known templates needs one
`GET` of the version. A batch that creates or generalizes a template is re-mined under
a Redis lock on the newest shared tree, which is then published, so whichever worker
sees a line first, every worker ends up naming it the same way.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable

import redis

from pipeline.templates import (
    SnapshotError,
    TemplateChange,
    TemplateMatch,
    TemplateMiner,
    TemplateStats,
)

log = logging.getLogger(__name__)


class SharedMiner:
    """A TemplateMiner whose `mine_many` keeps the fleet's shared tree in step."""

    def __init__(self, client: redis.Redis, max_templates: int, prefix: str = "logwarden:") -> None:
        self._redis = client
        self._max_templates = max_templates
        self._snapshot_key = f"{prefix}templates:snapshot"
        self._version_key = f"{prefix}templates:version"
        self._lock = client.lock(f"{prefix}templates:lock", timeout=30, blocking_timeout=60)
        self._version: bytes | None = None
        self.miner = TemplateMiner(max_templates)

    def mine_many(self, lines: Iterable[tuple[str, int]]) -> list[TemplateMatch]:
        lines = list(lines)
        self._catch_up()
        matches = self.miner.mine_many(lines)
        if all(m.change is TemplateChange.NONE for m in matches):
            return matches
        with self._lock:
            if self._catch_up():  # someone published meanwhile: mine on theirs
                matches = self.miner.mine_many(lines)
            self._publish()
        return matches

    # Lookups answer from the local copy, which is at least as new as the last batch.
    def resolve(self, template_id: str) -> str:
        return self.miner.resolve(template_id)

    def template_text(self, template_id: str) -> str | None:
        return self.miner.template_text(template_id)

    def ancestors(self, template_id: str) -> tuple[str, ...]:
        return self.miner.ancestors(template_id)

    def templates(self) -> list[TemplateStats]:
        return self.miner.templates()

    def template_count(self) -> int:
        return self.miner.template_count()

    def _catch_up(self) -> bool:
        """Loads the shared tree if it changed; True when it did."""
        version = self._redis.get(self._version_key)
        if version is None or version == self._version:
            return False
        data = self._redis.get(self._snapshot_key)
        try:
            self.miner = TemplateMiner.restore(data, max_templates=self._max_templates)  # type: ignore[arg-type]
        except SnapshotError as exc:  # another version's tree: ours becomes the shared one
            log.warning("shared template tree unreadable (%s); replacing it", exc)
            return False
        self._version = version
        return True

    def _publish(self) -> None:
        started = time.perf_counter()
        version = uuid.uuid4().hex.encode()
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self._snapshot_key, self.miner.snapshot())
        pipe.set(self._version_key, version)
        pipe.execute()
        self._version = version
        log.debug("template tree published", extra={"seconds": time.perf_counter() - started})
