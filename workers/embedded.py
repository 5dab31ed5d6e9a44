"""Embedded mode: one process, SQLite, in-memory state, a file as the source.

The batches go through the very `BatchProcessor` the Celery workers run; only the
infrastructure around it is swapped.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, BinaryIO

from workers import imports_for_good

with imports_for_good():  # the pipeline's modules
    import msgspec

    from alerting.lifecycle import sweep_incidents
    from alerting.outbox import deliver_due
    from pipeline.batch import Batch, Batcher, BatchLimits
    from pipeline.entry import LogEntry
    from pipeline.ingest import Ingest, keep_rejections
    from pipeline.parsing import InputKind, Rejection, RejectReason, read_input
    from pipeline.processing import BatchOutcome, BatchProcessor, keep_failed_batch
    from pipeline.silence_check import check_silent_streams
    from pipeline.state import LiveStateStore
    from workers.runtime import (
        build_notifiers,
        build_processor,
        build_store,
        message_extras,
        prune_past_retention,
        startup_heap_frozen,
        young_collections_spaced,
    )
    from workers.settings import Settings

if TYPE_CHECKING:
    from tqdm import tqdm

    from pipeline.storage import Store
    from workers.escalation import LlmUsage

log = logging.getLogger(__name__)

BEAT_S = 60.0  # log seconds between the replay's scheduled checks
PRUNE_EVERY_S = 3600.0  # wall seconds between the run's prunes of its accounting, as beat's


@dataclass
class RunSummary:
    entries: int = 0
    batches: int = 0
    already_recorded: int = 0
    processed: int = 0
    duplicates: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    anomalies: Counter[str] = field(default_factory=Counter)
    alerts: int = 0  # incidents opened
    resolved: int = 0  # incidents resolved
    deliveries: Counter[str] = field(default_factory=Counter)
    templates: int = 0
    seconds: float = 0.0
    input_kind: InputKind | None = None  # the format the source was read as
    llm: LlmUsage | None = None  # with --llm: what the escalations cost

    @property
    def accounted(self) -> bool:
        """Invariant 1: every entry is processed, a duplicate or a dead letter."""
        return self.entries == self.processed + self.duplicates + sum(self.dead_letters.values())


def run_embedded(
    source: BinaryIO,
    *,
    source_name: str,
    settings: Settings,
    project: str = "local",
    service: str = "",
    size_hint: int | None = None,
    progress: bool | None = None,
    on_outcome: Callable[[Batch, BatchOutcome], None] | None = None,
    pace_s: float | None = None,
    on_line: Callable[[int, LogEntry], None] | None = None,
    llm: bool = False,
) -> RunSummary:
    """Replays `source` (any format `read_input` detects) and returns what was found.

    Batches close on count, bytes and *log* time, so a replay of hours of logs forms
    the same minute-sized windows the live service forms. `on_outcome`, when given, is
    called with each batch and its outcome right after the batch is processed.
    `pace_s` re-times the lines evenly, for thin samples whose gaps are not silences: the
    first entry keeps its time, and each line comes `pace_s` after the line before it.
    `on_line` is told each entry (as replayed) with its line number in `source`.
    `size_hint` is the size of `source` in bytes (on disk, compressed or not): the
    progress bar follows how far `source` has been read.
    """
    started = time.perf_counter()
    clock = ReplayClock()
    store = build_store(settings, migrate=True, schedule_clock=clock)
    processor = build_processor(settings, LiveStateStore(), store)
    prune = AccountingPrune(store, settings)  # now, then hourly
    summary = RunSummary()
    lifecycle = ReplayLifecycle(settings, processor, clock, summary)
    deliver, beat = lifecycle.deliver, lifecycle.beat
    if llm:  # cool-downs and rate limits run on the log's clock
        _escalate_with_llm(settings, store, processor, clock.line_clock(time.time()))

    def process(batch: Batch) -> None:
        if time.monotonic() >= prune.due:  # between batches: one clock reading a batch
            prune()
        try:
            outcome = processor.process(batch)
        except Exception as error:  # as the fleet does: keep the entries, go on
            log.exception("batch failed; its entries are dead letters",
                          extra={"batch_id": batch.id})
            failed[RejectReason.PROCESSING_FAILED.value] += keep_failed_batch(store, batch, error)
            return
        if on_outcome is not None:
            on_outcome(batch, outcome)
        summary.batches += 1
        summary.already_recorded += outcome.already_recorded
        summary.processed += outcome.processed
        summary.duplicates += outcome.duplicates
        summary.anomalies.update(a.anomaly_type for a in outcome.anomalies)
        summary.alerts += len(outcome.new_alert_ids)
        if outcome.new_alert_ids or outcome.updated_alert_ids:
            deliver()

    dead: list[Rejection] = []
    failed: Counter[str] = Counter()
    limits = settings.batch.limits()
    replay = BatchLimits(limits.max_entries, limits.max_span_s, limits.max_bytes, limits.max_span_s)
    ingest = Ingest(Batcher(replay), process, dead.append, source="file")
    summary.input_kind, numbered = read_input(
        source,
        source_name=_delivery_source(source_name),
        project=project,
        service=service or source_name,
        now_ns=time.time_ns(),
    )
    items = _told(_paced(numbered, pace_s), on_line)
    log_clock, next_beat = 0.0, 0.0
    with (
        _progress_bar(size_hint, progress) as bar,
        _one_blas_thread(),
        startup_heap_frozen(),  # as the fleet's processes do: the run collects what it makes
        young_collections_spaced(),
    ):
        for item in items:
            if isinstance(item, LogEntry):  # (not "not a Rejection": see Ingest.feed)
                at_s = item.timestamp_ns / 1e9
                if at_s >= log_clock:  # the log's clock only goes forward: else nothing moves
                    log_clock = clock.line_s = at_s
                if bar is not None:
                    _advance(bar, source)
            ingest.feed(item, log_clock)
            if log_clock >= next_beat:  # what beat does in the fleet, on the log's clock
                ingest.tick(log_clock)
                _store_dead_letters(store, dead)
                beat(log_clock)
                next_beat = log_clock + BEAT_S
        _advance(bar, source, last=True)
        ingest.close()
        beat(log_clock)
    _store_dead_letters(store, dead)
    # The logs ended: time runs on until every incident has been quiet long enough to
    # resolve, so the replay ends with each incident's resolved notice.
    # Not a silence, though: the logs ended, the services did not stop.
    beat(log_clock + lifecycle.policy.quiet_s + BEAT_S, silences=False)
    summary.entries = ingest.received
    summary.dead_letters = ingest.rejected + failed
    summary.templates = len(processor.miner.templates())
    summary.seconds = time.perf_counter() - started
    summary.llm = _llm_usage(processor, store)
    return summary


def _escalate_with_llm(
    settings: Settings, store: Store, processor: BatchProcessor, log_clock: Callable[[], float]
) -> None:
    """Gives `processor` the LLM escalation when the settings allow it; its ledger runs on
    the log's clock. The escalation's modules are imported by the runs that escalate only."""
    from pipeline.escalation.ledger import InMemoryLedger
    from workers.escalation import build_escalation, llm_enabled

    if llm_enabled(settings, asked=True):
        ledger = InMemoryLedger(clock=log_clock)
        processor.escalation = build_escalation(settings, store, ledger).gate


def _llm_usage(processor: BatchProcessor, store: Store) -> LlmUsage | None:
    """What the run's escalations cost, for a run that escalated."""
    if processor.escalation is None:
        return None
    from pipeline.storage.reviews import ReviewStore
    from workers.escalation import llm_usage

    return llm_usage(ReviewStore(store.engine))


def _one_blas_thread() -> AbstractContextManager[object]:
    """numpy's BLAS limited to one thread while the run lasts. Its one product in the
    pipeline, the learned detector's distances between a stream's recent windows (a few
    hundred rows), gains nothing from a second thread: the second only spins beside the
    first, on a refit of 360 windows 6-9 ms of CPU instead of 0.6. The numbers are the
    same (the threads share out the rows of the result).

    OpenBLAS that loaded with `OPENBLAS_NUM_THREADS=1` (the pipeline's default) has one
    thread already: threadpoolctl, which looks through every loaded library for the BLAS
    (3-6 ms of CPU at every run), is left out."""
    if os.environ.get("OPENBLAS_NUM_THREADS") == "1" and _numpy_blas_is_openblas():
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _numpy_blas_is_openblas() -> bool:
    """Whether numpy was built against OpenBLAS (its PyPI wheels are, on Linux)."""
    import numpy

    blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return "openblas" in str(blas.get("name", "")).lower()


def _paced(
    numbered: Iterable[tuple[int, LogEntry | Rejection]], pace_s: float | None
) -> Iterable[tuple[int, LogEntry | Rejection]]:
    return numbered if pace_s is None else _retimed(numbered, pace_s)


def _retimed(
    numbered: Iterable[tuple[int, LogEntry | Rejection]], pace_s: float
) -> Iterator[tuple[int, LogEntry | Rejection]]:
    start_ns: int | None = None
    step_ns = round(pace_s * 1e9)
    for lineno, item in numbered:
        if isinstance(item, LogEntry):
            if start_ns is None:
                start_ns = item.timestamp_ns - (lineno - 1) * step_ns
            at_ns = start_ns + (lineno - 1) * step_ns
            item = msgspec.structs.replace(item, timestamp_ns=at_ns, receive_timestamp_ns=at_ns)
        yield lineno, item


def _told(
    numbered: Iterable[tuple[int, LogEntry | Rejection]],
    on_line: Callable[[int, LogEntry], None] | None,
) -> Iterator[LogEntry | Rejection]:
    if on_line is None:  # the items alone, without a Python step per line
        return map(itemgetter(1), numbered)
    return _telling(numbered, on_line)


def _telling(
    numbered: Iterable[tuple[int, LogEntry | Rejection]],
    on_line: Callable[[int, LogEntry], None],
) -> Iterator[LogEntry | Rejection]:
    for lineno, item in numbered:
        if isinstance(item, LogEntry):
            on_line(lineno, item)
        yield item


def _progress_bar(size_hint: int | None, progress: bool | None
                  ) -> AbstractContextManager[tqdm | None]:
    """A bar on stderr when `progress`, or when unset and stderr is a terminal; else
    None. A bar tqdm would only hide is not made: making one starts tqdm's monitor thread
    and a process-shared lock."""
    if not (_on_terminal(sys.stderr) if progress is None else progress):
        return nullcontext()
    from tqdm import tqdm  # 18 ms of imports a run without a bar does without

    return tqdm(total=size_hint, unit="B", unit_scale=True, leave=False, desc="replaying")


def _on_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)  # None: no stderr at all (pythonw)
    return bool(isatty and isatty())


def _advance(bar: tqdm | None, source: BinaryIO, *, last: bool = False) -> None:
    """Moves the bar to how far `source` has been read (bytes on disk, so gzip works);
    the `last` time, draws it (tqdm skips updates within mininterval of its last draw)."""
    if bar is None:
        return
    if bar.total is not None:
        try:
            bar.update(source.tell() - bar.n)
        except (OSError, ValueError):  # a pipe: no position
            bar.total = None
    if last:
        bar.refresh()


def _note_silences(processor, log_clock: float, summary: RunSummary) -> None:
    """The scheduled silence check, run on the log's clock; its alerts count like any."""
    found = check_silent_streams(processor, int(log_clock * 1e9))
    summary.anomalies.update(a.anomaly_type for a in found.anomalies)
    summary.alerts += len(found.new_alert_ids)


def _store_dead_letters(store, dead: list[Rejection]) -> None:
    if dead:
        keep_rejections(store, dead)
        dead.clear()


class ReplayLifecycle:
    """What beat and the notify workers do in the fleet, done by the replay itself."""

    def __init__(self, settings: Settings, processor: BatchProcessor, clock: ReplayClock,
                 summary: RunSummary) -> None:
        self.processor, self.clock, self.summary = processor, clock, summary
        self.policy = settings.incident_policy()
        self.notifiers = build_notifiers(settings)
        self.extras = message_extras(settings)

    def deliver(self) -> None:
        report = deliver_due(self.processor.store, self.notifiers, clock=self.clock,
                             extras=self.extras)
        self.summary.deliveries.update(sent=report.sent, retrying=report.retrying,
                                       failed=report.failed)

    def beat(self, at_s: float, *, silences: bool = True) -> None:
        """Silences, the incident sweep and the outbox, at log time `at_s`."""
        self.clock.at(at_s)
        if silences:
            _note_silences(self.processor, at_s, self.summary)
        report = sweep_incidents(self.processor.store, self.policy, int(at_s * 1e9))
        self.summary.resolved += len(report.resolved)
        self.deliver()


class AccountingPrune:
    """What beat's hourly prune does in the fleet, done by the run itself: at once (the
    database may hold earlier runs), then when `PRUNE_EVERY_S` of wall time has passed,
    looked at between batches. A run fed an endless stream (`tail -F app.log | logwarden
    run --from -`, `logwarden tail`) keeps the ledger and entry outcomes to their window.

    Their rows are stamped by the store's own clock, the wall clock (the `ReplayClock`
    times incidents and messages only), so the cut-off is on it too, not the log's time."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store, self.settings = store, settings
        self.due = 0.0  # time.monotonic() of the next prune
        self()

    def __call__(self) -> None:
        prune_past_retention(self.store, self.settings)
        self.due = time.monotonic() + PRUNE_EVERY_S


class ReplayClock:
    """The lifecycle's clock in a replay: the log's time once lines came, else now.

    The replay moves it on with `at`, and sets `line_s` to each line's time that moves
    the log's clock on: a plain attribute, as it is set for nearly every line."""

    def __init__(self) -> None:
        self._at: float | None = None
        self.line_s: float | None = None

    def at(self, seconds: float) -> None:
        if self._at is None or seconds > self._at:
            self._at = seconds

    def seconds(self) -> float | None:
        """The latest of `at` and `line_s`; None before either."""
        at, line_s = self._at, self.line_s
        if line_s is not None and (at is None or line_s > at):
            return line_s
        return at

    def line_clock(self, start_s: float) -> Callable[[], float]:
        """A clock in seconds: the time of the line that last moved the log's clock on,
        `start_s` before any did."""
        return lambda: start_s if self.line_s is None else self.line_s

    def __call__(self) -> datetime:
        at = self.seconds()
        return datetime.now(UTC) if at is None else datetime.fromtimestamp(at, UTC)


def _delivery_source(source_name: str) -> str:
    """Names this run's deliveries: line 7 of today's replay is not line 7 of yesterday's.

    The ledger counts each delivery once, so a second run of the same file (or of stdin,
    a tail, a resumed backfill) into one database must not look like a redelivery of the
    first: its entries are then counted again, as duplicates of the first run's.
    """
    return f"{source_name}@{uuid.uuid4().hex[:8]}"
