"""Changes: deploys and config changes noticed in a stream's own entries.

Two signs: a version-like label (Cloud Run `revision_name`, App Engine `version_id`, a
pod template hash, a `version` label, `serviceContext.version`) taking a value the stream
has not shown recently; and an admin-activity audit entry that updates, replaces or
patches a service. `observe` is pure: the caller keeps the `ChangeState` per stream.

    changes, state = observe(batch, state)
    change = latest_change(state, anomaly.start_ns)
    if change: text = describe(change, anomaly.start_ns)  # "started 2 minutes after ..."
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import msgspec

from pipeline.batch import Batch
from pipeline.detectors.explain import SKIPPED_LABELS, field_pairs
from pipeline.entry import LogEntry
from pipeline.findings import duration_text

VERSION_KEYS = (
    "revision_name",
    "version_id",
    "k8s-pod/pod-template-hash",
    "pod-template-hash",
    "version",
    "app.kubernetes.io/version",
    "k8s-pod/app_kubernetes_io/version",
)
ACTIVITY_LOGS = ("cloudaudit.googleapis.com%2Factivity", "cloudaudit.googleapis.com/activity")
_ACTIVITY_LOG = re.compile("|".join(map(re.escape, ACTIVITY_LOGS)))
_MUTATING = re.compile(r"(?i)(update|replace|patch|create|deploy|rollback|setiampolicy)")
_SERVICE = re.compile(
    r"/(?:services|deployments|statefulsets|daemonsets|functions|versions)/([^/]+)"
)


@dataclass(frozen=True, slots=True)
class Change:
    """One deploy or config change. `service` is the service changed, which for an audit
    entry may differ from the stream the entry arrived on."""

    kind: str  # "deploy" (a new version in the stream's entries) or "config" (audit log)
    service: str
    at_ns: int
    subject: str  # as people say it: "revision checkout-00042", "ReplaceService on checkout"
    key: str = ""  # the label or audit field it was read from
    previous: str = ""
    entry_id: str = ""


class ChangeState(msgspec.Struct):
    versions: dict[str, list[str]] = {}  # version key -> recent values, newest last
    recent: list[Change] = []  # newest last, bounded


@dataclass(frozen=True, slots=True)
class ChangeTracker:
    remembered_values: int = 8
    remembered_changes: int = 20
    version_keys: tuple[str, ...] = field(default=VERSION_KEYS)

    def observe(self, batch: Batch, state: ChangeState) -> tuple[list[Change], ChangeState]:
        versions = {k: list(v) for k, v in state.versions.items()}
        keys = frozenset(self.version_keys)
        found: list[Change] = []
        entries = batch.entries if _may_show_changes(batch.entries, keys) else ()
        for entry in sorted(entries, key=lambda e: (e.timestamp_ns, e.insert_id)):
            audit = _audit_change(entry)
            if audit is not None:
                found.append(audit)
            labels = _version_labels(entry, keys)
            if not labels:  # most entries: no version label at all
                continue
            known = {c.subject for c in (*state.recent, *found)}
            # The audit entry of a deploy already named the revision its entries now show.
            changed = self._version_changes(entry, labels, versions)
            found += [c for c in changed if c.subject not in known]
        recent = [*state.recent, *found][-self.remembered_changes :]
        return found, ChangeState(versions=versions, recent=recent)

    def _version_changes(
        self, entry: LogEntry, labels: list[tuple[str, str]], versions: dict[str, list[str]]
    ) -> list[Change]:
        found = []
        for key, value in labels:
            seen = versions.setdefault(key, [])
            if seen and value not in seen:
                found.append(
                    Change(
                        "deploy",
                        entry.service,
                        entry.timestamp_ns,
                        _version_subject(key, value),
                        key,
                        seen[-1],
                        entry.insert_id,
                    )
                )
            if value in seen:
                seen.remove(value)
            seen.append(value)
            del seen[: -self.remembered_values]
        return found


def observe(batch: Batch, state: ChangeState) -> tuple[list[Change], ChangeState]:
    """The changes `batch` shows, oldest first, and the state to keep for its stream."""
    return ChangeTracker().observe(batch, state)


def latest_change(state: ChangeState, before_ns: int, within_s: float = 6 * 3600) -> Change | None:
    """The newest change at or before `before_ns`, no older than `within_s`."""
    earlier = [c for c in state.recent if before_ns - within_s * 1e9 <= c.at_ns <= before_ns]
    return max(earlier, key=lambda c: c.at_ns, default=None)


def describe(change: Change, anomaly_start_ns: int) -> str:
    """E.g. "started 12 minutes after revision checkout-00042 was deployed"."""
    gap_s = (anomaly_start_ns - change.at_ns) / 1e9
    when = f"{duration_text(abs(gap_s))} {'after' if gap_s >= 0 else 'before'}"
    if change.kind == "deploy":
        return f"started {when} {change.subject} was deployed"
    return f"started {when} a config change ({change.subject})"


def _may_show_changes(entries: tuple[LogEntry, ...], keys: frozenset[str]) -> bool:
    """False when no entry of the batch can show a change: none has a payload (an audit
    entry, `serviceContext`) and no label of any entry has a version key with a value.
    Most batches of text logs. The labels' names are read from the batch's field counts,
    which the detectors' explanations then find made: the label maps of a batch's entries
    lie apart in memory, and one pass over them costs about what two would."""
    if any(map(_payload, entries)) or not keys.isdisjoint(SKIPPED_LABELS):
        return True  # the counts leave out the skipped labels
    _, pairs = field_pairs(entries)
    return any(key in keys for key, _ in pairs)


_payload = attrgetter("payload")


def _version_labels(entry: LogEntry, keys: frozenset[str]) -> list[tuple[str, str]]:
    found = [
        (k, v)
        for labels in (entry.resource_labels, entry.labels)
        if not keys.isdisjoint(labels)  # one pass in C over the few labels an entry has
        for k, v in labels.items()
        if k in keys and v
    ]
    context = entry.payload.get("serviceContext") if entry.payload else None
    if isinstance(context, dict) and isinstance(context.get("version"), str) and context["version"]:
        found.append(("serviceContext.version", context["version"]))
    return found


def _version_subject(key: str, value: str) -> str:
    if key == "revision_name":
        return f"revision {value}"
    return f"version {value}" if "version" in key else f"{key} {value}"


def _audit_change(entry: LogEntry) -> Change | None:
    if not entry.payload or not _ACTIVITY_LOG.search(entry.log_name):
        return None
    payload: dict[str, Any] = entry.payload
    method = payload.get("methodName")
    if not isinstance(method, str) or not _MUTATING.search(method.rsplit(".", 1)[-1]):
        return None
    status = payload.get("status")
    if isinstance(status, dict) and status.get("code"):  # the change was refused
        return None
    resource = str(payload.get("resourceName", ""))
    match = _SERVICE.search(resource)
    service = match[1] if match else entry.service
    revision = _new_revision(payload)
    verb = method.rsplit(".", 1)[-1]
    subject = f"revision {revision}" if revision else f"{verb} on {service}"
    return Change(
        "deploy" if revision else "config",
        service,
        entry.timestamp_ns,
        subject,
        "methodName",
        "",
        entry.insert_id,
    )


def _new_revision(payload: dict[str, Any]) -> str:
    """The revision a Cloud Run ReplaceService/CreateService rolls out, if it says."""
    response = payload.get("response")
    status = response.get("status") if isinstance(response, dict) else None
    name = status.get("latestCreatedRevisionName") if isinstance(status, dict) else None
    return name if isinstance(name, str) else ""
