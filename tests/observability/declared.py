"""What `observability.metrics` declares, read back from a fresh registry, for the tests."""

from __future__ import annotations

import re
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from observability.labels import Labelled
from observability.metrics import Metrics

METRIC_NAME = re.compile(r"(?<![a-z0-9_:])logwarden_[a-z0-9_]+")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
MATCHERS = re.compile(r"(logwarden_[a-z0-9_]+)\{([^}]*)\}")
SCRAPE_LABELS = frozenset({"job", "instance"})


def declared_metrics(metrics: Metrics) -> dict[str, Any]:
    """The public metric attributes of `metrics`, by attribute name."""
    return {name: value for name, value in vars(metrics).items() if not name.startswith("_")}


def example_labels(labelled: Labelled[Any]) -> dict[str, str]:
    """Label values each label accepts: the first of a closed set, else a code-made name."""
    return {
        label.name: label.values[0] if label.values else "example_name"
        for label in labelled.declared
    }


def child(metric: Any) -> tuple[MetricWrapperBase, dict[str, str]]:
    """The metric to act on (a labelled one's child with example labels) and its labels."""
    if isinstance(metric, Labelled):
        labels = example_labels(metric)
        return metric.labels(**labels), labels
    return metric, {}


def written_samples() -> dict[str, str]:
    """For each declared metric, the sample a write shows in (a counter's `_total`, a
    histogram's `_count`, a gauge itself), with the metric's kind."""
    shown = {}
    for metric in declared_metrics(Metrics(CollectorRegistry())).values():
        base = metric.metric if isinstance(metric, Labelled) else metric
        name = base.describe()[0].name
        if isinstance(base, Counter):
            shown[f"{name}_total"] = "counter"
        elif isinstance(base, Histogram):
            shown[f"{name}_count"] = "histogram"
        else:
            assert isinstance(base, Gauge), name
            shown[name] = "gauge"
    return shown


def declared_series() -> dict[str, frozenset[str]]:
    """Every series name the service exposes, with the label names it carries."""
    registry = CollectorRegistry()
    for metric in declared_metrics(Metrics(registry)).values():
        child(metric)  # a labelled metric shows its series only once it has a child
    series: dict[str, frozenset[str]] = {}
    for family in registry.collect():
        for sample in family.samples:
            series[sample.name] = series.get(sample.name, frozenset()) | set(sample.labels)
    return series


def promql_problems(expr: str, series: dict[str, frozenset[str]]) -> list[str]:
    """Metric names in `expr` that are not declared, and labels no metric in it carries."""
    used = set(METRIC_NAME.findall(expr))
    problems = [f"undeclared metric {name}" for name in sorted(used - series.keys())]
    known = SCRAPE_LABELS.union(*(series.get(name, frozenset()) for name in used))
    for name, matchers in MATCHERS.findall(expr):
        for label in re.findall(r"([a-z_]+)\s*[=!]~?", matchers):
            if label not in series.get(name, frozenset()) | SCRAPE_LABELS:
                problems.append(f"{name} has no label {label}")
    for group in GROUPING.findall(expr):
        for label in filter(None, (part.strip() for part in group.split(","))):
            if label not in known:
                problems.append(f"grouping by {label}, which no metric of the query carries")
    return problems
