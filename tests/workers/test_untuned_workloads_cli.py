"""`logwarden run` on workloads no setting was tuned on, as a user runs it.

- A service that logs free text after a fixed prefix (search queries): every line new to
  the miner. The run keeps one template per shape and still reports the line a rule knows.
- A service one of whose pods has its clock two minutes ahead: its lines and the others'
  alternate in event time, and the run still batches them by the hundred."""

from __future__ import annotations

import json
import random
import re
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.storage import make_engine
from tests.workers.clirun import logwarden

START = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def entry(i: int, text: str, severity: str = "INFO", ahead_s: float = 0.0) -> str:
    at = START + timedelta(milliseconds=5 * i, seconds=ahead_s)
    return json.dumps({
        "insertId": f"q{i}", "timestamp": at.isoformat(),
        "severity": severity, "textPayload": text,
        "resource": {"type": "k8s_container", "labels": {"project_id": "acme-prod",
                                                         "container_name": "search"}},
    })


def workload(lines: int) -> list[str]:
    rng = random.Random(11)
    vocabulary = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9)))
                  for _ in range(5000)]
    out = []
    for i in range(lines):
        if i == lines // 2:
            out.append(entry(i, "java.lang.OutOfMemoryError: Java heap space", "ERROR"))
        elif i % 3:
            words = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(3, 6)))
            out.append(entry(i, f"search query received: {words}"))
        else:
            out.append(entry(i, f"request served in {rng.randint(1, 400)} ms"))
    return out


def test_free_text_is_one_template_per_shape(tmp_path: Path) -> None:
    source = tmp_path / "search.jsonl"
    source.write_text("\n".join(workload(6000)) + "\n")
    db = f"sqlite:///{tmp_path / 'run.db'}"

    result = logwarden("run", "--from", str(source), cwd=tmp_path,
                       env={"LOGWARDEN_DATABASE_URL": db})

    assert result.returncode == 0, result.stderr
    assert "all entries accounted for: yes" in result.stdout, result.stdout
    templates = int(re.search(r"^templates *(\d+)", result.stdout, re.M)[1])  # type: ignore[index]
    assert templates <= 10, result.stdout  # 4 query lengths, the requests, the error
    with make_engine(db).connect() as conn:
        texts = set(conn.exec_driver_sql("SELECT text FROM templates").scalars())
        oom = conn.exec_driver_sql(
            "SELECT count(*) FROM anomalies WHERE summary LIKE '%out-of-memory%'").scalar_one()
    for words in range(3, 7):
        assert "search query received: " + " ".join(["<*>"] * words) in texts
    assert oom >= 1


def test_a_pod_with_its_clock_ahead_is_batched_with_the_rest(tmp_path: Path) -> None:
    rng = random.Random(5)
    lines = [entry(i, f"request served in {rng.randint(1, 400)} ms",
                   ahead_s=120.0 if i % 3 == 0 else 0.0) for i in range(20_000)]
    source = tmp_path / "skewed.jsonl"
    source.write_text("\n".join(lines) + "\n")

    result = logwarden("run", "--from", str(source), cwd=tmp_path,
                       env={"LOGWARDEN_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}"})

    assert result.returncode == 0, result.stderr
    assert "all entries accounted for: yes" in result.stdout, result.stdout
    counts = dict(re.findall(r"^(entries|processed|batches) *(\d+)", result.stdout, re.M))
    assert counts["entries"] == counts["processed"] == "20000", result.stdout
    assert int(counts["batches"]) <= 100, result.stdout  # 100 s of log time, by the 500
