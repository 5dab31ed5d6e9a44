"""Links back to the logs: the Logs Explorer URL that shows an anomaly's entries.

Pure: a stream, a window and a template's text in, a URL out. The query names the
resource type, the service (by the resource label the service was read from), and the
template's longest literal phrases, so the link opens on the lines that made the anomaly.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

from pipeline.entry import StreamKey

EXPLORER = "https://console.cloud.google.com/logs/query"
# The resource label a service name comes from, per resource type (as parsing reads it).
SERVICE_LABEL = {
    "cloud_run_revision": "resource.labels.service_name",
    "cloud_run_job": "resource.labels.job_name",
    "k8s_container": "resource.labels.container_name",
    "cloud_function": "resource.labels.function_name",
    "gae_app": "resource.labels.module_id",
    "dataproc_cluster": "resource.labels.cluster_name",
    "gce_instance": 'labels."compute.googleapis.com/resource_name"',
}
MARGIN_S = 60  # shown before and after the window, for context
MAX_PHRASES = 2
_MASK = re.compile(r"<[A-Z_*]+>|<\*>")
_LITERAL = re.compile(r"[A-Za-z][A-Za-z0-9 ,'_.-]*[A-Za-z0-9]")


def logs_explorer_url(
    stream: StreamKey, start_ns: int, end_ns: int, template_text: str | None = None
) -> str:
    """The Logs Explorer URL for `stream`'s entries in [start, end] (plus a minute each
    side), narrowed to the template's phrases when its text is known."""
    query = "\n".join(explorer_query(stream, template_text))
    since = _rfc3339(start_ns - MARGIN_S * 10**9)
    until = _rfc3339(end_ns + MARGIN_S * 10**9)
    return (
        f"{EXPLORER};query={quote(query, safe='')};timeRange={quote(f'{since}/{until}', safe='')}"
        f"?project={quote(stream.project, safe='')}"
    )


def explorer_query(stream: StreamKey, template_text: str | None = None) -> list[str]:
    """The query's lines (the Logs Explorer ANDs them)."""
    lines = [f'resource.type="{_escaped(stream.resource_type)}"']
    label = SERVICE_LABEL.get(stream.resource_type)
    if label and stream.service:
        lines.append(f'{label}="{_escaped(stream.service)}"')
    lines += [f'"{_escaped(p)}"' for p in template_phrases(template_text or "")]
    return lines


def template_phrases(text: str, limit: int = MAX_PHRASES) -> list[str]:
    """The longest runs of literal words in a template (its masks and punctuation
    dropped), in the order they appear: what every line of the template contains."""
    runs: list[str] = []
    for part in _MASK.split(text):
        runs += [" ".join(m.split()) for m in _LITERAL.findall(part)]
    wordy = [r for r in runs if len(r) >= 6 and sum(c.isalpha() for c in r) >= 4]
    # Phrases of several words first: a lone word is often half of a masked token.
    longest = sorted(set(wordy), key=lambda r: (" " not in r, -len(r), r))[:limit]
    return sorted(longest, key=runs.index)


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _rfc3339(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
