"""Input formats: detected from the content, each read as itself, streamed in pieces."""

from __future__ import annotations

import gzip
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.entry import LogEntry
from pipeline.parsing import InputError, InputFormat, Rejection, RejectReason, read_input
from pipeline.parsing.jsonvalues import json_values
from tests.fuzzing import FEW

NOW = 1_800_000_000 * 10**9


def _entry(i: int, text: str = "GET /api 200") -> dict:
    return {
        "insertId": f"id-{i}",
        "logName": "projects/acme/logs/stdout",
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": "api"}},
        "severity": "INFO",
        "textPayload": f"{text} {i}",
        "timestamp": f"2026-11-02T08:{i // 60 % 60:02d}:{i % 60:02d}Z",
    }


class _Trickle(io.RawIOBase):
    """Hands out `step` bytes per read, so every value straddles read boundaries."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._pos, self._step = data, 0, step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._data[self._pos : self._pos + self._step]
        self._pos += len(chunk)
        return chunk

    def readinto(self, buffer) -> int:  # type: ignore[override]
        chunk = self.read()
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _read(data: bytes, step: int | None = None) -> tuple[str, list[LogEntry | Rejection]]:
    stream = _Trickle(data, step) if step else io.BytesIO(data)
    kind, items = read_input(
        stream, source_name="f", project="local", service="svc", now_ns=NOW, max_bytes=2048
    )
    return str(kind), [item for _, item in items]


ARRAY = json.dumps([_entry(i) for i in range(300)], indent=2).encode()


@pytest.mark.parametrize("step", [None, 1, 7, 4096])
def test_a_gcloud_array_gives_every_entry(step):
    kind, items = _read(ARRAY, step)
    assert kind == "JSON array"
    assert all(isinstance(i, LogEntry) for i in items)
    assert [i.insert_id for i in items] == [f"id-{n}" for n in range(300)]  # type: ignore[union-attr]


def test_a_gzipped_array_says_both():
    kind, items = _read(gzip.compress(ARRAY))
    assert kind == "JSON array, gzip"
    assert len(items) == 300


def test_json_lines_and_objects_one_after_another():
    lines = b"\n".join(json.dumps(_entry(i)).encode() for i in range(5))
    assert _read(lines)[0] == "JSON lines"
    assert len(_read(lines)[1]) == 5
    pretty = b"\n".join(json.dumps(_entry(i), indent=2).encode() for i in range(5))
    kind, items = _read(pretty, 3)
    assert kind == "JSON objects"
    assert [i.insert_id for i in items] == [f"id-{n}" for n in range(5)]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "first",
    [b"[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok", b"[2026-01-01 10:00] INFO up"],
)
def test_text_starting_with_a_bracket_stays_text(first):
    kind, items = _read(first + b"\nsecond line\n")
    assert kind == "plain text"
    assert len(items) == 2 and all(isinstance(i, LogEntry) for i in items)


def test_strings_with_brackets_quotes_and_escapes_do_not_confuse_the_scanner():
    tricky = [_entry(0, 'a "]}" \\ [{ ] \\"'), _entry(1, "}\\\\"), _entry(2, "ünï ✓")]
    kind, items = _read(json.dumps(tricky).encode(), 1)
    assert kind == "JSON array"
    assert [i.message for i in items] == [e["textPayload"] for e in tricky]  # type: ignore[union-attr]


def test_bad_elements_are_rejected_one_by_one_with_their_line():
    data = (
        b'[\n {"textPayload": "ok", "insertId": "a"},\n 42,\n {"textPayload": 1},\n {"x": "'
        + b"y" * 5000
        + b'"},\n {"textPayload": "last", "insertId": "b"}\n] trailing'
    )
    _, items = _read(data, 100)
    reasons = [i.reason if isinstance(i, Rejection) else "ok" for i in items]
    assert reasons == [
        "ok",
        RejectReason.NOT_AN_OBJECT,
        RejectReason.WRONG_TYPE,
        RejectReason.OVERSIZED,
        "ok",
        RejectReason.INVALID_JSON,
    ]
    assert [i.source for i in items if isinstance(i, Rejection)] == ["f:3", "f:4", "f:5", "f:7"]
    oversize = items[3]
    assert isinstance(oversize, Rejection) and oversize.raw_size == len(b'{"x": ""}') + 5000


def test_an_array_cut_short_rejects_the_last_entry_only():
    kind, items = _read(ARRAY[: len(ARRAY) // 2])
    assert kind == "JSON array"
    assert all(isinstance(i, LogEntry) for i in items[:-1])
    last = items[-1]
    assert isinstance(last, Rejection) and last.reason == RejectReason.INVALID_JSON


def test_scanner_keeps_one_oversize_value_out_of_memory():
    big = b'["' + b"x" * (3 << 20) + b'", {"a": 1}]'
    values = list(json_values(io.BytesIO(big), in_array=True, max_bytes=1024))
    assert [v.oversize for v in values] == [True, False]
    assert values[0].size == (3 << 20) + 2 and len(values[0].data) <= 64 * 1024


def test_corrupt_gzip_is_an_input_error():
    data = gzip.compress(ARRAY)
    with pytest.raises(InputError, match="gzip"):
        _read(data[: len(data) // 2])
    assert _read(b"")[0] == InputFormat.EMPTY


JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@FEW
@given(
    values=st.lists(JSON_VALUES, max_size=8),
    indent=st.sampled_from([None, 0, 2]),
    step=st.integers(1, 64),
    in_array=st.booleans(),
)
def test_the_scanner_finds_every_value_whatever_the_reads(values, indent, step, in_array):
    if in_array:
        data = json.dumps(values, indent=indent, ensure_ascii=False).encode()
    else:
        data = "\n".join(json.dumps(v, indent=indent, ensure_ascii=False) for v in values).encode()
    found = list(json_values(_Trickle(data, step), in_array=in_array, max_bytes=1 << 20))
    assert [json.loads(v.data) for v in found] == values
