"""What the fuzz properties start from: real entries (the bundled sample and the labeled
development sets), and Hypothesis settings that keep every property to seconds."""

from __future__ import annotations

import copy
import gzip
import json
from functools import cache
from itertools import islice
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
SOURCES = [REPO / "workers" / "sample" / "sample.jsonl.gz",
           *sorted((REPO / "workers" / "devsets" / "data").glob("*.jsonl.gz"))]
PER_SOURCE = 40  # spread over each file

# Deterministic (the same examples on every run, so CI never flakes on a new find) and
# bounded: no deadline, as the shared CI machine's pauses are not the code's.
FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FEW = settings(FUZZ, max_examples=40)


@cache
def real_entries() -> tuple[bytes, ...]:
    """Lines of real-looking Cloud Logging JSON, from every kind of service we ship."""
    found: list[bytes] = []
    for path in SOURCES:
        with gzip.open(path, "rb") as lines:
            every = list(islice(lines, 1000))
        step = max(1, len(every) // PER_SOURCE)
        found += [line.rstrip(b"\n") for line in every[::step][:PER_SOURCE]]
    return tuple(found)


JSON_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats()
                | st.text(max_size=40) | st.sampled_from(
                    ["ERROR", "500", "", "2024-13-45T00:00:00Z", "2024-05-01T12:00:00Z",
                     "0.5s", "1e999", "projects/p/traces/t", "type.googleapis.com/x"]))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12,
)
TOKENS = [b'"', b"{", b"}", b"[", b"]", b",", b":", b"\\", b"\\u", b"\x00", b"\xff", b"\xc3",
          b"null", b"true", b"-", b"1e999", b"\\ud800", b"\n", b" ", b"\xe2\x80\xa8"]  # fmt: skip


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with a few edits: a byte changed, a token or random bytes put in, a run cut
    or repeated, the tail dropped."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(buf)))
        edit = draw(st.integers(0, 5))
        if edit == 0 and buf:
            buf[min(at, len(buf) - 1)] = draw(st.integers(0, 255))
        elif edit == 1:
            buf[at:at] = draw(st.sampled_from(TOKENS))
        elif edit == 2:
            del buf[at: at + draw(st.integers(1, 16))]
        elif edit == 3:
            buf[at:at] = buf[at: at + draw(st.integers(1, 64))]
        elif edit == 4:
            del buf[at:]
        else:
            buf[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(buf)


@st.composite
def restructured(draw: st.DrawFn, entry: dict[str, Any]) -> dict[str, Any]:
    """`entry` with one value, at any depth, replaced by any JSON value."""
    node: Any = entry
    while isinstance(node, dict) and node and draw(st.booleans()):
        child = node[draw(st.sampled_from(sorted(node)))]
        if not isinstance(child, dict):
            break
        node = child
    if isinstance(node, dict):
        keys = sorted({*node, "severity", "timestamp", "jsonPayload", "protoPayload",
                       "httpRequest", "insertId", "resource", "trace", "zz"})
        node[draw(st.sampled_from(keys))] = draw(JSON_VALUES)
    return entry


def real_entry() -> st.SearchStrategy[bytes]:
    return st.sampled_from(real_entries())


def real_objects() -> tuple[dict[str, Any], ...]:
    """The real entries that are JSON objects (the samples plant some that are not)."""
    found = []
    for raw in real_entries():
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return tuple(found)


def mutated_entry() -> st.SearchStrategy[bytes]:
    """A real entry, edited as bytes or as structure."""
    as_bytes = real_entry().flatmap(mutated_bytes)
    as_structure = st.sampled_from(real_objects()).map(copy.deepcopy).flatmap(
        restructured).map(lambda e: json.dumps(e).encode())
    return st.one_of(as_bytes, as_structure)
