"""One template tree for the whole fleet, kept in Redis (invariant 4: same line, same id).

Each worker mines on its own copy of the tree. The fleet shares the tree as a log of the
lines that changed it (created or generalized a template), in a Redis stream whose
entry ids are the change numbers 1, 2, 3, ...: the same lines replayed in the same order
on the same tree make the same changes, so every copy that has replayed the log up to
change n is the same tree, whichever worker met each line first.

- A batch that only meets known templates costs one round trip: the log's entries after
  the worker's own position (none, usually).
- A batch that changes the tree appends its changing lines under a Redis lock, once it
  has checked that nobody appended since it caught up. If somebody did, its copy holds
  changes the fleet's does not: it reloads the shared tree and mines the batch again.
- The cost of a change is its lines, not the tree: nothing republishes or reloads the
  whole tree for it (`python -m tests.benchmarks.shared_tree` measures it at two sizes).
  A snapshot of the whole tree, written after `max(1000, templates at the last
  snapshot)` changes (so its cost per change stays bounded too), lets a new worker start
  without replaying from the beginning; the log is trimmed behind it.

Everything lives under an epoch (a random id): when Redis loses the shared tree (a
restart without persistence), the next worker to change its tree starts a new epoch
from its own copy, and the others load that, as they would a newer snapshot.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence

import redis

from pipeline.templates import (
    SnapshotError,
    TemplateChange,
    TemplateMatch,
    TemplateMiner,
    TemplateStats,
)

log = logging.getLogger(__name__)

COMPACT_EVERY = 1000  # changes between snapshots, at least (more for larger trees)
LOAD_ATTEMPTS = 5  # a snapshot and the log can move on while being read: read again


class SharedMiner:
    """A TemplateMiner whose `mine_many` keeps the fleet's shared tree in step."""

    def __init__(self, client: redis.Redis, max_templates: int, prefix: str = "logwarden:") -> None:
        self._redis = client
        self._max_templates = max_templates
        self._prefix = f"{prefix}templates:"
        self._lock = client.lock(f"{self._prefix}lock", timeout=30, blocking_timeout=60)
        self._epoch: str | None = None
        self._seq = 0  # the last change of the shared log this copy holds
        self._snapshot_templates = 0  # how large the tree was at the last snapshot seen
        self.miner = TemplateMiner(max_templates)

    def mine_many(self, lines: Iterable[tuple[str, int]]) -> list[TemplateMatch]:
        lines = list(lines)
        self._catch_up()
        matches = self.miner.mine_many(lines)
        if all(m.change is TemplateChange.NONE for m in matches):
            return matches
        with self._lock:
            epoch, last = self._tip()
            if epoch is None:  # nothing shared (yet, or Redis lost it): ours is the tree
                self._start_epoch()
                return matches
            if epoch != self._epoch or last != self._seq:  # ours went its own way
                self._load(epoch)
                matches = self.miner.mine_many(lines)
                if self._epoch is None:  # the shared tree cannot be read: ours replaces it
                    self._start_epoch()
                    return matches
            self._append([line for line, m in zip(lines, matches, strict=True)
                          if m.change is not TemplateChange.NONE])
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

    @property
    def position(self) -> tuple[str | None, int]:
        """(epoch, change number) of the shared log this copy has replayed up to."""
        return self._epoch, self._seq

    def _log_key(self, epoch: str) -> str:
        return f"{self._prefix}log:{epoch}"

    def _snapshot_key(self, epoch: str) -> str:
        return f"{self._prefix}snapshot:{epoch}"

    def _catch_up(self) -> None:
        """Replays the changes made since ours (one round trip when there are none)."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(f"{self._prefix}epoch")
        if self._epoch is not None:
            pipe.xrange(self._log_key(self._epoch), min=f"{self._seq + 1}-0")
        epoch, *rest = pipe.execute()
        epoch = epoch.decode() if epoch is not None else None
        if epoch is None:
            return
        if epoch != self._epoch or not self._replay(rest[0]):
            self._load(epoch)

    def _replay(self, entries: Sequence[tuple[bytes, dict[bytes, bytes]]]) -> bool:
        """Mines the logged lines in order; False when the log no longer holds the
        changes right after ours (trimmed behind a snapshot)."""
        for entry_id, fields in entries:
            seq = int(entry_id.split(b"-")[0])
            if seq != self._seq + 1:
                return False
            self.miner.mine(fields[b"m"].decode("utf-8", "surrogatepass"), int(fields[b"t"]))
            self._seq = seq
        return True

    def _load(self, epoch: str) -> None:
        """Makes this copy the shared tree of `epoch`: its snapshot, then the log after it."""
        for _ in range(LOAD_ATTEMPTS):
            data, seq = self._redis.hmget(self._snapshot_key(epoch), ["data", "seq"])
            if data is None or seq is None:
                break
            try:
                self.miner = TemplateMiner.restore(data, max_templates=self._max_templates)
            except SnapshotError as exc:  # another version's tree: ours will replace it
                log.warning("shared template tree unreadable (%s); replacing it", exc)
                break
            self._epoch, self._seq = epoch, int(seq)
            self._snapshot_templates = self.miner.template_count()
            if self._replay(self._redis.xrange(self._log_key(epoch), min=f"{self._seq + 1}-0")):
                return
        self._epoch = None  # not loadable: the next change starts a new epoch from ours

    def _tip(self) -> tuple[str | None, int]:
        """The shared epoch and the number of its last change (read under the lock)."""
        epoch = self._redis.get(f"{self._prefix}epoch")
        if epoch is None:
            return None, 0
        newest = self._redis.xrevrange(self._log_key(epoch.decode()), count=1)
        last = int(newest[0][0].split(b"-")[0]) if newest else self._snapshot_seq(epoch.decode())
        return epoch.decode(), last

    def _snapshot_seq(self, epoch: str) -> int:
        seq = self._redis.hget(self._snapshot_key(epoch), "seq")
        return int(seq) if seq is not None else -1

    def _start_epoch(self) -> None:
        epoch = uuid.uuid4().hex
        self._epoch, self._seq = epoch, 0
        self._write_snapshot()
        self._redis.set(f"{self._prefix}epoch", epoch)
        log.info("shared template tree started from this worker's", extra={"epoch": epoch})

    def _append(self, lines: list[tuple[str, int]]) -> None:
        """Logs the lines that changed the tree, as the changes after ours."""
        assert self._epoch is not None
        key = self._log_key(self._epoch)
        pipe = self._redis.pipeline(transaction=False)
        for message, timestamp_ns in lines:
            self._seq += 1
            pipe.xadd(key, {"m": message.encode("utf-8", "surrogatepass"), "t": timestamp_ns},
                      id=f"{self._seq}-0")
        pipe.execute()
        since = self._seq - self._snapshot_seq(self._epoch)
        if since >= max(COMPACT_EVERY, self._snapshot_templates):
            self._write_snapshot()

    def _write_snapshot(self) -> None:
        """The whole tree at our change number; the log keeps its entries from it on (a
        copy that finds the log starting past its own position knows to load this)."""
        assert self._epoch is not None
        self._snapshot_templates = self.miner.template_count()
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(self._snapshot_key(self._epoch),
                  mapping={"data": self.miner.snapshot(), "seq": self._seq})
        pipe.xtrim(self._log_key(self._epoch), minid=f"{self._seq}-0", approximate=False)
        pipe.execute()
