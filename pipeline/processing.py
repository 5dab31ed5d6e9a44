"""One batch, start to finish: drop duplicates, mine, detect, score, store.

This is the code the Celery task and the embedded runner both call (invariant 7).
It is safe to run twice on the same batch: the ledger row makes the second run a no-op,
and detector state is saved only after the batch is recorded. Duplicates are found in
the store (the entry outcomes), not in Redis, so a Redis restart forgets none of them.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from operator import attrgetter
from typing import Any, Protocol, TypeVar, cast

from pipeline import imports_for_good

# The pipeline's modules, whichever entry point imports this first: they stay for good.
with imports_for_good():
    import msgspec

    from observability.metrics import CHANGE_KIND, Metrics, get_metrics
    from pipeline.anomaly import Anomaly, anomaly_id
    from pipeline.batch import Batch
    from pipeline.changes import Change, ChangeState, latest_change
    from pipeline.changes import describe as describe_change
    from pipeline.changes import observe as observe_changes
    from pipeline.detectors.base import AnyDetector, MinedBatch
    from pipeline.detectors.silence import silence_window_id
    from pipeline.entry import LogEntry, StreamKey, delivery_keys_of
    from pipeline.findings import Finding
    from pipeline.incidents import IncidentPolicy, StaticRouter
    from pipeline.parsing import RejectReason
    from pipeline.samples import with_samples
    from pipeline.scoring import ScoringPolicy, score_batch
    from pipeline.state import LiveStateStore, StateStore
    from pipeline.storage import (
        BatchRecord,
        DeadLetterRow,
        EntryOutcome,
        Outcome,
        Store,
        TemplateRow,
    )
    from pipeline.templates import TemplateMatch, TemplateStats

log = logging.getLogger(__name__)

CHANGES = "changes"  # the state key of the deploy and config-change tracker
T = TypeVar("T")


class EscalationHook(Protocol):
    """Told about each recorded batch's new anomalies (`pipeline.escalation.gate`)."""

    def consider(
        self, mined: MinedBatch, anomalies: Sequence[Anomaly], alert_of: Mapping[str, str],
        new_alert_ids: Sequence[str],
    ) -> Sequence[object]:
        """Hands on the anomalies worth an LLM's review; must not block for long."""
        ...


class Miner(Protocol):
    """A TemplateMiner, or the fleet's shared one: what processing needs of a miner."""

    def mine_many(self, lines: Iterable[tuple[str, int]]) -> list[TemplateMatch]: ...
    def resolve(self, template_id: str) -> str: ...
    def template_text(self, template_id: str) -> str | None: ...
    def ancestors(self, template_id: str) -> tuple[str, ...]: ...
    def templates(self) -> list[TemplateStats]: ...
    def template_count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ProcessingConfig:
    policy: ScoringPolicy = field(default_factory=ScoringPolicy)
    channels: tuple[str, ...] = ()
    incidents: IncidentPolicy | None = None  # None: every incident to every one of `channels`

    def incident_policy(self) -> IncidentPolicy:
        return self.incidents or IncidentPolicy(router=StaticRouter(self.channels))


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    batch_id: str
    entries: int
    processed: int
    duplicates: int
    anomalies: tuple[Anomaly, ...]
    new_alert_ids: tuple[str, ...]
    already_recorded: bool
    findings: tuple[Finding, ...] = ()  # every finding, also those below the line
    updated_alert_ids: tuple[str, ...] = ()  # open incidents these anomalies joined


class BatchProcessor:
    """Owns one miner and one set of detectors; call `process` once per batch."""

    def __init__(
        self,
        *,
        miner: Miner,
        detectors: Sequence[AnyDetector],
        state: StateStore,
        store: Store,
        config: ProcessingConfig = ProcessingConfig(),
        metrics: Metrics | None = None,
        escalation: EscalationHook | None = None,
    ) -> None:
        self.escalation = escalation
        self.miner = miner
        self.detectors = list(detectors)
        self.state = state
        self.store = store
        self.config = config
        self.metrics = metrics or get_metrics()

    def process(self, batch: Batch) -> BatchOutcome:
        stage = self.metrics.batch_seconds
        with stage.labels(stage="mine").time():
            fresh, outcomes = self._count_entries(batch)
            stored = self._stored_states(batch.key)
            seen, changes = self._observe_changes(fresh, stored[CHANGES])
            mined, templates, lineage = self._mine(batch, fresh, changes)
        with stage.labels(stage="detect").time():
            findings, states = self._detect(mined, stored)
            anomalies = score_batch(batch, findings, self.config.policy)
            anomalies = [with_samples(_after_change(_one_per_silence(a), changes), mined)
                         for a in anomalies]
            states[CHANGES] = changes
        record = BatchRecord(
            batch_id=batch.id,
            stream=str(batch.key),
            entries=len(batch.entries),
            processed=len(fresh.entries),
            duplicates=len(outcomes) - len(fresh.entries),
            start_ns=batch.start_ns,
            end_ns=batch.end_ns,
        )
        with stage.labels(stage="store").time():
            result = self.store.record_batch(
                record,
                anomalies,
                templates,
                lineage,
                policy=self.config.incident_policy(),
                outcomes=outcomes,
            )
        if not result.already_recorded:
            self._save_states(batch, states)
        outcome = BatchOutcome(
            batch_id=batch.id,
            entries=record.entries,
            processed=record.processed,
            duplicates=record.duplicates,
            anomalies=tuple(a for a in anomalies if a.id in result.new_anomaly_ids),
            new_alert_ids=tuple(result.new_alert_ids),
            updated_alert_ids=tuple(result.updated_alert_ids),
            already_recorded=result.already_recorded,
            findings=tuple(findings),
        )
        self._count(batch.key.service, outcome, findings, result.alert_of)
        if not outcome.already_recorded:
            self._count_changes(batch.key.service, seen)
        if self.escalation is not None and outcome.anomalies:
            self._escalate(mined, outcome, result.alert_of)
        return outcome

    def _escalate(
        self, mined: MinedBatch, outcome: BatchOutcome, alert_of: Mapping[str, str]
    ) -> None:
        assert self.escalation is not None
        try:
            self.escalation.consider(mined, outcome.anomalies, alert_of, outcome.new_alert_ids)
        except Exception:  # the LLM is an advisor: detection and alerting go on without it
            log.exception("escalation skipped", extra={"batch_id": outcome.batch_id})

    def _observe_changes(self, fresh: Batch, raw: object) -> tuple[list[Change], ChangeState]:
        """The deploys and config changes these entries show, and the stream's state with
        them (before detection, so detectors can weigh what is new since a deploy)."""
        state = _decode_state(CHANGES, ChangeState, ChangeState, fresh.key, raw)
        return observe_changes(fresh, state)

    def _count_changes(self, service: str, changes: Sequence[Change]) -> None:
        m = self.metrics
        # At zero from a service's first batch on: increase() misses a series born at 1.
        for kind in CHANGE_KIND.values:
            m.changes_total.labels(kind=kind, service=m.service(service))
        for change in changes:
            m.changes_total.labels(kind=change.kind, service=m.service(change.service)).inc()

    def _count(
        self, service: str, outcome: BatchOutcome, findings: Sequence[Finding],
        alert_of: Mapping[str, str],
    ) -> None:
        m = self.metrics
        m.templates.set(self.miner.template_count())  # per batch: no list of them
        if outcome.already_recorded:
            m.batches_total.labels(outcome="already_recorded").inc()
            return
        m.batches_total.labels(outcome="processed").inc()
        m.batch_entries.observe(outcome.entries)
        service = m.service(service)
        m.entries_processed_total.labels(service=service).inc(outcome.processed)
        m.entries_duplicate_total.inc(outcome.duplicates)
        m.entries_redelivered_total.inc(outcome.entries - outcome.processed - outcome.duplicates)
        for detector, found in Counter(f.detector for f in findings).items():
            m.detector_findings_total.labels(detector=detector).inc(found)
        now_ns = time.time_ns()
        for anomaly in outcome.anomalies:
            m.anomalies_total.labels(
                anomaly_type=anomaly.anomaly_type, severity=str(anomaly.severity), service=service
            ).inc()
            m.end_to_end_seconds.observe(max(0.0, (now_ns - anomaly.end_ns) / 1e9))
            if alert_of.get(anomaly.id) in outcome.new_alert_ids:
                m.alerts_total.labels(severity=str(anomaly.severity)).inc()

    def _count_entries(self, batch: Batch) -> tuple[Batch, list[EntryOutcome]]:
        """The entries to process (as a batch), and what each delivery new to the store
        counts as.

        A delivery some recorded batch counted already (Pub/Sub regrouped a redelivery)
        counts nothing here; an insert id processed before, or earlier in this batch, is
        a duplicate. A batch recorded meanwhile with the same ones fails its record with
        `EntriesCountedMeanwhile`, and the batch is processed again.
        """
        entries = batch.entries
        deliveries = delivery_keys_of(entries)  # each built once
        inserts = [e.insert_key for e in entries]
        delivery_ids, insert_keys = set(deliveries), set(inserts)
        counted, processed = self.store.known_entries(delivery_ids, insert_keys)
        if not counted and not processed and len(delivery_ids) == len(insert_keys) == len(entries):
            # The usual batch, every delivery and insert id new and each there once: all
            # processed, their outcomes built in C rather than by the loop below.
            return batch, list(map(EntryOutcome, deliveries, repeat(Outcome.PROCESSED), inserts))
        fresh: list[LogEntry] = []
        outcomes: list[EntryOutcome] = []
        for entry, delivery, insert in zip(entries, deliveries, inserts, strict=True):
            if delivery in counted:
                continue
            counted.add(delivery)
            if insert in processed:
                outcomes.append(EntryOutcome(delivery, Outcome.DUPLICATE))
                continue
            processed.add(insert)
            fresh.append(entry)
            outcomes.append(EntryOutcome(delivery, Outcome.PROCESSED, insert))
        if len(fresh) == len(entries):  # all of them: the batch, its times worked out once
            return batch, outcomes
        # The batch's own id: without one, a Batch hashes every delivery key to make it.
        return Batch(batch.key, tuple(fresh), batch.id), outcomes

    def _mine(
        self, batch: Batch, fresh: Batch, changes: ChangeState
    ) -> tuple[MinedBatch, list[TemplateRow], dict[str, str]]:
        entries = fresh.entries
        matches = self.miner.mine_many(map(_line_of, entries))
        generalized = filter(_previous_id, matches)  # the few that name one, found in C
        lineage = {cast(str, m.previous_id): m.template_id for m in generalized}
        named = list(map(_template_id, matches))
        # A template generalized later in the batch: every line names what it became.
        current = {t: self.miner.resolve(t) for t in set(named)}
        ids = tuple(map(current.__getitem__, named))
        texts = {t: self.miner.template_text(t) or "" for t in set(ids)}
        ancestors = {t: self.miner.ancestors(t) for t in texts}
        change = latest_change(changes, before_ns=batch.end_ns)
        mined = MinedBatch(fresh, ids, texts, ancestors,
                           last_change_ns=change.at_ns if change else None)
        return mined, _template_rows(entries, ids, texts), lineage

    def _detect(
        self, mined: MinedBatch, stored: Mapping[str, object]
    ) -> tuple[list[Finding], dict[str, Any]]:
        findings: list[Finding] = []
        states: dict[str, Any] = {}
        for detector in self.detectors:
            state = _decode_state(detector.name, detector.state_type, detector.initial_state,
                                  mined.batch.key, stored.get(detector.name))
            started = time.perf_counter()
            try:
                found, states[detector.name] = detector.detect(mined, state)
            except Exception:  # one broken detector must not silence the others
                log.exception(
                    "detector failed", extra={"detector": detector.name, "batch_id": mined.batch.id}
                )
                continue
            findings.extend(found)
            log.debug(
                "detector ran",
                extra={"detector": detector.name, "seconds": time.perf_counter() - started},
            )
        return findings, states

    def load_state(
        self, name: str, state_type: type[T], initial: Callable[[], T], stream: StreamKey
    ) -> T:
        """The state `name` keeps for `stream`, or `initial()` when there is none yet."""
        return _decode_state(name, state_type, initial, stream,
                             self.state.get(_state_key(name, stream)))

    def _stored_states(self, stream: StreamKey) -> dict[str, object]:
        """Every state kept for the stream, raw (or, from a live store, as it was saved),
        in one read (one Redis round trip)."""
        names = [CHANGES, *(detector.name for detector in self.detectors)]
        keys = _state_keys(names, stream)
        state = self.state
        values = state.get_live(keys) if isinstance(state, LiveStateStore) else state.get_many(keys)
        return dict(zip(names, values, strict=True))

    def _save_states(self, batch: Batch, states: dict[str, Any]) -> None:
        keyed = zip(_state_keys(states, batch.key), states.values(), strict=True)
        if isinstance(self.state, LiveStateStore):  # embedded: kept as they are, not encoded
            self.state.put_live(dict(keyed))
            return
        self.state.put_many({key: msgspec.msgpack.encode(state) for key, state in keyed})


def _decode_state(
    name: str, state_type: type[T], initial: Callable[[], T], stream: StreamKey,
    raw: object,
) -> T:
    if raw is None:
        return initial()
    if not isinstance(raw, bytes):  # from a LiveStateStore: the state as it was saved
        return cast(T, raw)
    try:
        return msgspec.msgpack.decode(raw, type=state_type)
    except msgspec.DecodeError:  # a state from an older version: start afresh
        log.warning(
            "detector state unreadable, starting afresh",
            extra={"detector": name, "stream": str(stream)},
        )
        return initial()


def keep_failed_batch(store: Store, batch: Batch, error: BaseException) -> int:
    """A batch the pipeline gave up on (a bug, or retries spent) becomes dead letters, so
    its entries are kept and counted; nothing, if it was recorded before it failed.
    Returns how many dead letters were new."""
    if store.batch_recorded(batch.id):
        return 0
    # Entries another batch counted (a regrouped redelivery) are not counted again.
    counted, _ = store.known_entries({e.delivery_key for e in batch.entries}, ())
    batch = replace(batch, entries=tuple(e for e in batch.entries
                                         if e.delivery_key not in counted))
    added = store.add_dead_letters(failed_batch_letters(batch, error))
    get_metrics().dead_letters_total.labels(reason=RejectReason.PROCESSING_FAILED.value).inc(added)
    return added


def failed_batch_letters(batch: Batch, error: BaseException) -> list[DeadLetterRow]:
    """A batch the pipeline gave up on, as one dead letter per entry: counted like any
    other dead letter, and holding the entry (as JSON) for a replay once fixed."""
    first_line = str(error).split("\n", 1)[0]  # SQL errors append their parameters
    detail = f"Its batch {batch.id} failed for good with {type(error).__name__}: {first_line}"
    detail = detail[:500]
    letters = []
    for i, entry in enumerate(batch.entries):
        raw = msgspec.json.encode(entry)
        source = f"batch:{batch.id}#{i}"
        # Kept whole, unlike other dead letters: the batch is rebuilt from these.
        letters.append(
            DeadLetterRow.of(RejectReason.PROCESSING_FAILED, detail, source, raw,
                             keep_bytes=len(raw))
        )
    return letters


_line_of = attrgetter("message", "timestamp_ns")  # what the miner reads of an entry, in C
_timestamp_ns = attrgetter("timestamp_ns")
_template_id = attrgetter("template_id")
_previous_id = attrgetter("previous_id")


def _template_rows(
    entries: Sequence[LogEntry], ids: Sequence[str], texts: dict[str, str]
) -> list[TemplateRow]:
    """This batch's count and first/last sighting of each template (the store adds them up)."""
    times: dict[str, list[int]] = {}
    for template_id, at_ns in zip(ids, map(_timestamp_ns, entries), strict=True):
        at = times.get(template_id)
        if at is None:
            times[template_id] = [at_ns]
        else:
            at.append(at_ns)
    return [TemplateRow(t, texts[t], len(at), min(at), max(at)) for t, at in times.items()]


def _after_change(anomaly: Anomaly, changes: ChangeState) -> Anomaly:
    change = latest_change(changes, before_ns=anomaly.end_ns)
    if change is None:
        return anomaly
    note = describe_change(change, anomaly.start_ns)
    return replace(anomaly, summary=f"{anomaly.summary} {note[0].upper()}{note[1:]}.")


def _one_per_silence(anomaly: Anomaly) -> Anomaly:
    """A silence seen when it ends is the one the scheduled check may have stored while it
    lasted: both name it by the stream's last entry before it, so it is stored once."""
    if anomaly.anomaly_type != "silence":
        return anomaly
    last = [f.evidence.numbers.get("last_seen_ns") for f in anomaly.findings]
    last_seen = next((int(x) for x in last if x), None)
    if last_seen is None:
        return anomaly
    return replace(anomaly, id=anomaly_id(silence_window_id(anomaly.stream, last_seen), "silence"))


def _state_key(name: str, stream: StreamKey) -> str:
    return f"detector:{name}:{stream}"


def _state_keys(names: Iterable[str], stream: StreamKey) -> list[str]:
    """`_state_key` of each name, the stream's text made once."""
    suffix = f":{stream}"
    return [f"detector:{name}{suffix}" for name in names]
