"""Seeded random mutations: every parse function returns a LogEntry or a Rejection, never raises.

hypothesis is not a dependency; a plain seeded loop of mutations does the same job here,
and a failing case prints the seed and input it came from.
"""

from __future__ import annotations

import base64
import io
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.entry import LogEntry, Severity
from pipeline.parsing import (
    Rejection,
    RejectReason,
    iter_lines,
    parse_entry,
    parse_pubsub_message,
    parse_push_body,
    parse_text_line,
)
from tests.pipeline.test_parsing import (
    audit_log_entry,
    cloud_function_entry,
    cloud_run_entry,
    encode,
    gke_container_entry,
)

SEEDS = range(4)
ROUNDS = 1500
SAMPLES = [gke_container_entry, cloud_run_entry, audit_log_entry, cloud_function_entry]
TOKENS = [b'"', b"{", b"}", b"[", b"]", b",", b":", b"\\", b"\\u", b"\x00", b"\xff", b"\xc3",
          b"null", b"true", b"-", b"1e999", b"\\ud800", b"\n", b" ", b"\xe2\x80\xa8"]  # fmt: skip
ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 2**70, 1.5, 1e308, "", "x", " ", "\u0000", "ERROR", "500",
    "2024-13-45T00:00:00Z", "2024-05-01T12:00:00Z", "0.5s", "projects/p/logs/a%2Fb",
    [], {}, [1, "a", None], {"a": {"b": [1]}}, {"@type": 5}, "é" * 10,
]  # fmt: skip


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(buf) + 1)
        match rng.randrange(6):
            case 0 if buf:
                buf[min(at, len(buf) - 1)] = rng.randrange(256)
            case 1:
                buf[at:at] = rng.choice(TOKENS)
            case 2:
                del buf[at : at + rng.randint(1, 16)]
            case 3:
                buf[at:at] = buf[at : at + rng.randint(1, 64)]
            case 4:
                del buf[at:]
            case _:
                buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(buf)


def mutate_structure(rng: random.Random, entry: dict[str, Any]) -> dict[str, Any]:
    node: Any = entry
    while isinstance(node, dict) and node and rng.random() < 0.6:
        child = node[rng.choice(list(node))]
        if not isinstance(child, dict):
            break
        node = child
    if isinstance(node, dict):
        key = rng.choice([*node, "severity", "timestamp", "jsonPayload", "protoPayload", "zz"])
        node[key] = rng.choice(ODD_VALUES)
    return entry


def check(result: object, context: str) -> None:
    assert isinstance(result, LogEntry | Rejection), context
    if isinstance(result, Rejection):
        assert result.reason is not RejectReason.PARSER_BUG, f"{context}: {result.detail}"
        assert isinstance(result.reason, RejectReason) and result.detail, context
        assert len(result.raw) <= 64 * 1024 <= 64 * 1024 + result.raw_size, context
        return
    assert isinstance(result.timestamp_ns, int) and isinstance(result.severity, Severity)
    assert isinstance(result.message, str) and isinstance(result.insert_id, str), context
    assert result.insert_id and result.service, context


def run(
    seed: int, make: Callable[[random.Random], bytes], parse: Callable[[bytes], object]
) -> None:
    rng = random.Random(seed)
    for round_ in range(ROUNDS):
        data = make(rng)
        check(parse(data), f"seed {seed} round {round_}: {data[:300]!r}")


def mutated_entry(rng: random.Random) -> bytes:
    return mutate_bytes(rng, encode(rng.choice(SAMPLES)()))


def restructured_entry(rng: random.Random) -> bytes:
    return encode(mutate_structure(rng, rng.choice(SAMPLES)()))


@pytest.mark.parametrize("seed", SEEDS)
def test_parse_entry_survives_byte_mutations(seed: int) -> None:
    run(seed, mutated_entry, lambda data: parse_entry(data, receive_ns=1))


@pytest.mark.parametrize("seed", SEEDS)
def test_parse_entry_survives_wrong_values_anywhere(seed: int) -> None:
    run(seed, restructured_entry, lambda data: parse_entry(data))


@pytest.mark.parametrize("seed", SEEDS)
def test_parse_entry_survives_str_input(seed: int) -> None:
    run(seed, mutated_entry, lambda data: parse_entry(data.decode("utf-8", "surrogateescape")))


@pytest.mark.parametrize("seed", SEEDS)
def test_push_and_pubsub_survive_mutations(seed: int) -> None:
    def body(rng: random.Random) -> bytes:
        data = base64.b64encode(rng.choice([mutated_entry, restructured_entry])(rng)).decode()
        envelope = {"message": {"data": data, "messageId": "1"}, "subscription": "s"}
        return (
            mutate_bytes(rng, json.dumps(envelope).encode())
            if rng.random() < 0.5
            else (json.dumps(mutate_structure(rng, envelope)).encode())
        )

    run(seed, body, lambda data: parse_push_body(data)[1])
    run(seed, mutated_entry, lambda data: parse_pubsub_message(data, {}, "m", None))


@pytest.mark.parametrize("seed", SEEDS)
def test_text_lines_and_files_survive_random_bytes(seed: int) -> None:
    line = b"2024-05-01 12:00:00,123 ERROR [main] c.a.Service: failed to connect to 10.0.0.1"
    run(seed, lambda rng: mutate_bytes(rng, line), lambda data: parse_text_line(
        data, source="f:1", project="p", service="s", now_ns=0))  # fmt: skip
    rng = random.Random(seed)
    stream = b"\n".join(
        mutate_bytes(rng, rng.choice([line, mutated_entry(rng)])) for _ in range(500)
    )
    for item in iter_lines(io.BytesIO(stream), source_name="f", project="p", service="s", now_ns=0):
        check(item, f"seed {seed}: iter_lines")
