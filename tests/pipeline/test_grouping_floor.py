"""The grouping floor on systems the settings were not chosen on, and on a dense stream.

`python -m tests.benchmarks.grouping --write-choices` picks, for each Loghub system,
the settings that group the other 13 best and records them; here each system is
scored with the pick made without it (held out), against stock Drain3 on the same
lines. The dense stream replays every system with fresh numbers through one miner:
templates must stay near the number of true events, not grow with the volume.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass

import pytest

from pipeline.templates import DEFAULT_SETTINGS, MiningSettings
from tests.benchmarks.grouping import CHOICES_FILE, MAX_TEMPLATES_PER_EVENT
from tests.pipeline.grouping import accuracy, dense_templates, stock_accuracy
from tests.pipeline.loghub import LabelledLog, load_all

HELD_OUT_MEAN_FLOOR = 0.95


@dataclass(frozen=True, slots=True)
class HeldOut:
    system: str
    accuracy: float
    stock: float


def _choices() -> dict[str, MiningSettings]:
    raw = json.loads(CHOICES_FILE.read_text())
    return {
        system: MiningSettings(**{**values, "extra_delimiters": tuple(values["extra_delimiters"])})
        for system, values in raw.items()
    }


@pytest.fixture(scope="module")
def logs() -> list[LabelledLog]:
    return load_all()


@pytest.fixture(scope="module")
def held_out(logs: list[LabelledLog]) -> list[HeldOut]:
    choices = _choices()
    return [HeldOut(log.system, accuracy(log, choices[log.system]), stock_accuracy(log))
            for log in logs]


def _table(results: list[HeldOut]) -> str:
    return "\n".join(f"{r.system:<12} {r.accuracy:.3f} (stock {r.stock:.3f})" for r in results)


def test_every_system_has_a_held_out_pick(logs: list[LabelledLog]) -> None:
    assert sorted(_choices()) == sorted(log.system for log in logs)


def test_no_held_out_system_below_stock_drain3(held_out: list[HeldOut]) -> None:
    below = [r.system for r in held_out if r.accuracy < r.stock]
    assert not below, _table(held_out)


def test_held_out_mean(held_out: list[HeldOut]) -> None:
    mean = statistics.mean(r.accuracy for r in held_out)
    assert mean >= HELD_OUT_MEAN_FLOOR, _table(held_out)


def test_dense_stream_templates_track_events(logs: list[LabelledLog]) -> None:
    once = dense_templates(logs, DEFAULT_SETTINGS, replays=1, stock=False)
    twice = dense_templates(logs, DEFAULT_SETTINGS, replays=2, stock=False)
    assert twice.ours <= MAX_TEMPLATES_PER_EVENT * twice.events, (twice, once)
    assert twice.ours <= once.ours * 1.05, (twice, once)  # more volume, not more templates
