"""The scheduled silence check: streams that stopped logging raise no batch, so a clock
(Celery beat in the fleet, the log clock in a replay) has to look for them."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.anomaly import Anomaly
from pipeline.detectors.silence import SilenceDetector, SilenceState, silence_window_id
from pipeline.entry import StreamKey
from pipeline.processing import BatchProcessor
from pipeline.scoring import Window, score_window
from pipeline.storage import BatchRecord


@dataclass(frozen=True, slots=True)
class SilenceCheck:
    """What one check stored: the new anomalies and the alerts they opened."""

    anomalies: tuple[Anomaly, ...] = ()
    new_alert_ids: tuple[str, ...] = ()


def check_silent_streams(processor: BatchProcessor, now_ns: int) -> SilenceCheck:
    """Stores an anomaly for each stream silent past its threshold; returns the new ones.

    Safe to run as often as you like: one silence (a stream's last entry) is one window,
    so its anomaly and alert are stored once however many checks see it, and the batch
    that ends the silence names the same anomaly (see `silence_window_id`).
    """
    detector = next((d for d in processor.detectors if isinstance(d, SilenceDetector)), None)
    if detector is None:
        return SilenceCheck()
    since_ns = now_ns - int(detector.give_up_s * 1e9)
    anomalies: list[Anomaly] = []
    alerts: list[str] = []
    for text in processor.store.streams(since_ns=since_ns):
        stream = StreamKey.parse(text)
        state = processor.load_state(detector.name, SilenceState, SilenceState, stream)
        finding = detector.check(state, now_ns, stream)
        if finding is not None:
            found, opened = _record(processor, stream, state.last_seen_ns, now_ns, finding)
            anomalies += found
            alerts += opened
    return SilenceCheck(tuple(anomalies), tuple(alerts))


def _record(
    processor, stream: StreamKey, last_seen_ns: int, now_ns: int, finding
) -> tuple[list[Anomaly], tuple[str, ...]]:
    window = Window(silence_window_id(stream, last_seen_ns), stream, last_seen_ns, now_ns)
    anomalies = score_window(window, [finding], processor.config.policy)
    record = BatchRecord(window.id, str(stream), 0, 0, 0, last_seen_ns, now_ns)
    result = processor.store.record_batch(
        record,
        anomalies,
        [],
        {},
        policy=processor.config.incident_policy(),
    )
    return [a for a in anomalies if a.id in result.new_anomaly_ids], result.new_alert_ids
