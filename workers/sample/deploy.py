"""compute-api: nova-api requests on Cloud Run, a deploy at 10:49 and what it broke."""

from __future__ import annotations

from random import Random
from typing import Any

from workers.sample import Incident
from workers.sample.cloudrun import (
    AUDIT,
    METHOD,
    Revision,
    audit_payload,
    cloud_run_stream,
    render_compute_api,
)
from workers.sample.entries import Payload, rfc3339
from workers.sample.loghub import LoghubLine, offsets_ns
from workers.sample.scenario import (
    END_NS,
    START_NS,
    Emitter,
    Replay,
    arrivals,
    at,
    moment,
    replay_at_offsets,
    steady,
)

PER_MINUTE = 20
DEPLOY_AT, SERVING_FROM = at(10, 49, 30.412), at(10, 50, 5)
BROKEN_FROM, BROKEN_UNTIL = at(10, 52), at(10, 58, 30)
OLD = Revision(
    "compute-api-00041-kaz",
    (
        "0069c7a98803b7e2f1a9d4c06e5b21f3a7c8d90e1b2f3a4c5d6e7f8091a2b3c4",
        "0069c7a98851d0e3b7c2a1f4e6d5c8b9a0f1e2d3c4b5a6978877665544332211",
    ),
)
NEW = Revision(
    "compute-api-00042-vup",
    (
        "0069c7a988a4e1f0d2c3b5a6978e8f7d6c5b4a39281706f5e4d3c2b1a0998877",
        "0069c7a988c7b6a5d4e3f2011f2e3d4c5b6a79889a0b1c2d3e4f5a6b7c8d9e0f",
    ),
)


def is_nova_api(line: LoghubLine) -> bool:
    return line.get("Logrecord").startswith("nova-api")


def _request_id(line: LoghubLine) -> str:
    return line.get("ADDR").split(" ")[0]


def held_out_pairs(lines: list[LoghubLine]) -> list[list[LoghubLine]]:
    """Each 'HTTP exception thrown: No instances found for any event' and its 404 reply."""
    failed = {_request_id(line) for line in lines if line.event_id == "E33"}
    pairs: dict[str, list[LoghubLine]] = {}
    for line in lines:
        if _request_id(line) in failed:
            pairs.setdefault(_request_id(line), []).append(line)
    return list(pairs.values())


def compute_api_story(emitter: Emitter, lines: list[LoghubLine], seed: int) -> Incident:
    """Steady API traffic; the deploy; then a failure the old revision never logged."""
    rng = Random(f"{seed}:compute-api")
    nova_api = [line for line in lines if is_nova_api(line)]
    pairs = held_out_pairs(nova_api)
    held = {line.row for pair in pairs for line in pair}
    replay = Replay(
        [line for line in nova_api if line.row not in held], start=rng.randrange(len(nova_api))
    )

    def render(line: LoghubLine, ns: int) -> Payload:
        revision = NEW if ns >= SERVING_FROM else OLD
        return render_compute_api(line, revision, rng.randrange(2))

    steady(
        emitter, cloud_run_stream(OLD), render, replay, arrivals(rng, START_NS, END_NS, PER_MINUTE)
    )
    emitter.emit(AUDIT, audit_payload(DEPLOY_AT, NEW), DEPLOY_AT)
    gap = (BROKEN_UNTIL - BROKEN_FROM - 30 * 10**9) // len(pairs)
    for i, pair in enumerate(pairs):
        start = BROKEN_FROM + i * gap + round(rng.uniform(0, 0.4) * gap)
        replay_at_offsets(emitter, cloud_run_stream(NEW), render, pair, offsets_ns(pair), start)
    return Incident(
        id="compute-api-deploy-regression",
        kind="deploy_regression",
        service="compute-api",
        resource_type="cloud_run_revision",
        start=moment(BROKEN_FROM),
        end=moment(BROKEN_UNTIL),
        description=(
            f"Two minutes after {METHOD} rolled out revision {NEW.name} (previously "
            f"{OLD.name}), POST /v2/<tenant>/os-server-external-events starts failing with 404 "
            f"and nova logs 'HTTP exception thrown: No instances found for any event' "
            f"{len(pairs)} times in six minutes: a message the service never logged before."
        ),
        signals=("new_template",),
    )


def deploy_record() -> dict[str, Any]:
    return {
        "service": "compute-api",
        "resource_type": "cloud_run_revision",
        "at": rfc3339(DEPLOY_AT, 9),
        "method": METHOD,
        "revision_name": NEW.name,
        "previous_revision_name": OLD.name,
        "serving_from": rfc3339(SERVING_FROM, 0),
    }
