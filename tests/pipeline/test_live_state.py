"""The embedded run's live state store: states kept as objects, read back as they were.

Keeping a detector's state as the object it returned, instead of its encoding, is sound
only if no detector changes a state it is handed and every state survives encoding as it
is (types included: a tuple where a list is declared, an int in a float field or a numpy
float would come back otherwise). The whole-run test holds both, for every state saved in
a replay of the bundled sample.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Mapping, Sequence

import msgspec

from pipeline.detectors.learned import LearnedState
from pipeline.state import LiveStateStore
from workers import embedded, sample
from workers.settings import Settings


class Kept(msgspec.Struct):
    counts: list[int] = []
    share: float = 0.0


def test_live_values_come_back_as_the_same_objects():
    store = LiveStateStore()
    value = Kept([1, 2], 0.5)
    store.put_live({"a": value})
    assert store.get_live(["a", "b"]) == [value, None]
    assert store.get_live(["a"])[0] is value


def test_a_live_value_reads_as_its_encoding_and_bytes_replace_it():
    store = LiveStateStore()
    store.put_live({"a": Kept([1], 2.0)})
    assert store.get("a") == msgspec.msgpack.encode(Kept([1], 2.0))
    assert store.get_many(["a", "b"]) == [store.get("a"), None]
    store.put("a", b"raw")
    assert store.get_live(["a"]) == [b"raw"] and store.get("a") == b"raw"
    store.put_live({"a": Kept()})
    assert store.get("a") == msgspec.msgpack.encode(Kept())


def same(a: object, b: object, where: str = "state") -> None:
    """Equal, type for type, all the way down (`==` takes 1 == 1.0 and (1,) != [1]...)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, msgspec.Struct):
        for name in a.__struct_fields__:
            same(getattr(a, name), getattr(b, name), f"{where}.{name}")
    elif isinstance(a, Mapping):
        assert list(a) == list(b), f"{where}: keys"  # the order too: detectors iterate
        for key in a:
            same(a[key], b[key], f"{where}[{key!r}]")  # type: ignore[index]
    elif isinstance(a, Sequence) and not isinstance(a, str | bytes):
        assert len(a) == len(b), f"{where}: length"  # type: ignore[arg-type]
        for i, (x, y) in enumerate(zip(a, b, strict=True)):  # type: ignore[call-overload]
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where  # type: ignore[arg-type]
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


class CheckingStore(LiveStateStore):
    """Checks, for each state it keeps, that it comes back from encoding as it is, that
    it is unchanged when it is next read, and that the object it handed to a batch is
    unchanged by the time the next is saved or read."""

    def __init__(self) -> None:
        super().__init__()
        self.handed: list[tuple[str, object, bytes]] = []
        self.encoded: dict[str, bytes] = {}  # each state as it was when saved
        self.saved: dict[type, int] = {}

    def get_live(self, keys: Sequence[str]) -> list[object | None]:
        self.check_unchanged()
        values = super().get_live(keys)
        for key, value in zip(keys, values, strict=True):
            if value is not None:
                assert msgspec.msgpack.encode(value) == self.encoded[key], f"{key} changed"
        self.handed = [(key, value, msgspec.msgpack.encode(value))
                       for key, value in zip(keys, values, strict=True)
                       if value is not None]  # fmt: skip
        return values

    def put_live(self, values: Mapping[str, object]) -> None:
        self.check_unchanged()
        for key, value in values.items():
            decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(value), type=type(value))
            same(value, decoded, key)
            self.encoded[key] = msgspec.msgpack.encode(value)
            self.saved[type(value)] = self.saved.get(type(value), 0) + 1
        super().put_live(values)

    def check_unchanged(self) -> None:
        for key, value, encoded in self.handed:
            assert msgspec.msgpack.encode(value) == encoded, f"{key} was changed in place"


def test_every_state_of_a_sample_run_survives_encoding_and_is_never_changed(
    tmp_path, monkeypatch
):
    store = CheckingStore()
    monkeypatch.setattr(embedded, "LiveStateStore", lambda: store)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'live.db'}", channels=["file"],
                        alerts_file=tmp_path / "alerts.jsonl")  # fmt: skip
    with gzip.open(sample.sample_path(), "rb") as stream:
        summary = embedded.run_embedded(stream, source_name="sample", settings=settings,
                                        progress=False)  # fmt: skip
    store.check_unchanged()
    assert summary.batches > 1000
    assert len(store.saved) == 11  # each detector's state type, and the changes'
    assert set(store.saved.values()) == {summary.batches}  # every state of every batch
    fitted = [v for v in store._live.values() if isinstance(v, LearnedState) and v.forest]
    assert fitted  # the forests, fitted during the run, were checked too
