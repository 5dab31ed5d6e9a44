"""OpenTelemetry tracing: one provider per process, Celery instrumentation, a `span` helper.

Exporters, chosen by one string (a setting):
- `none`: spans are made (so log lines carry trace ids) but not sent anywhere;
- `console`: each span as JSON on stderr, for a developer's terminal;
- `file:PATH`: one JSON span per line appended to PATH, from every process;
- `otlp` or `otlp:URL`: OTLP over HTTP to a collector (URL like
  `http://collector:4318/v1/traces`; without it, the `OTEL_EXPORTER_OTLP_*` variables).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
    SpanProcessor,
)
from opentelemetry.util.types import AttributeValue

log = logging.getLogger(__name__)
ATTRIBUTE_PREFIX = "logwarden."

_configured: TracerProvider | None = None
_configure_lock = threading.Lock()


class JsonLinesSpanExporter(SpanExporter):
    """Appends each span as one JSON line to a file; safe across forked processes because
    the file is opened for each export and written with one append."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(span.to_json(indent=None) + "\n" for span in spans)
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as out:
                out.write(lines)
        except OSError as error:
            log.warning("could not write %d spans to %s: %s", len(spans), self.path, error)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS


def build_tracer_provider(service_name: str, exporter: str) -> TracerProvider:
    """A tracer provider for `service_name` sending spans to `exporter` (see the module
    docstring); raises `ValueError` on an exporter it does not know. Sets nothing global."""
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    processor = _processor(exporter)
    if processor is not None:
        provider.add_span_processor(processor)
    return provider


def _processor(exporter: str) -> SpanProcessor | None:
    kind, _, target = exporter.partition(":")
    if exporter == "none":
        return None
    if exporter == "console":
        return SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr))
    if kind == "file" and target:
        # Written as each span ends: a worker killed mid-batch keeps the spans it finished.
        return SimpleSpanProcessor(JsonLinesSpanExporter(Path(target)))
    if kind == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return BatchSpanProcessor(OTLPSpanExporter(endpoint=target or None))
    raise ValueError(
        f"unknown trace exporter {exporter!r}: use none, console, file:PATH, otlp or otlp:URL"
    )


def configure_tracing(service_name: str, exporter: str) -> TracerProvider:
    """Builds this process's tracer provider and makes it the global one.

    OpenTelemetry allows one global provider per process: a later call returns the first
    provider unchanged. Raises `ValueError` on an unknown exporter.
    """
    global _configured
    with _configure_lock:
        if _configured is None:
            _configured = build_tracer_provider(service_name, exporter)
            trace.set_tracer_provider(_configured)
        return _configured


def instrument_celery() -> None:
    """Traces Celery publishing and task runs with the global provider, carrying the trace
    context in the message headers. Call in `worker_process_init` (each prefork child) and
    in producers; calling it again does nothing."""
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    instrumentor = CeleryInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


@contextmanager
def span(name: str, **attributes: AttributeValue | None) -> Iterator[trace.Span]:
    """A span named `name`, current inside the block, that records an exception raised in
    it. Attributes get the `logwarden.` prefix (`batch_id=` → `logwarden.batch_id`); None
    values are left out."""
    tracer = trace.get_tracer("logwarden")
    kept = {ATTRIBUTE_PREFIX + k: v for k, v in attributes.items() if v is not None}
    with tracer.start_as_current_span(name, attributes=kept) as current:
        yield current
