"""Measuring template grouping: Loghub's accuracy, stock Drain3, and a dense replay.

Shared by the grouping tests and `python -m tests.benchmarks.grouping`.
"""

from __future__ import annotations

import logging
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from drain3 import TemplateMiner as Drain3Miner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

from pipeline.templates import DEFAULT_SETTINGS, MiningSettings, TemplateMiner
from tests.pipeline.loghub import LabelledLog

logging.getLogger("drain3").setLevel(logging.WARNING)

STOCK_NUMBER = MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM")
STOCK_IP = MaskingInstruction(
    r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "IP"
)
_NUMBER_RUN = re.compile(r"\d\d+")


def grouping_accuracy(predicted: Sequence[object], truth: Sequence[str]) -> float:
    """Share of lines whose predicted group holds exactly the lines of their true group."""
    pairs = Counter(zip(predicted, truth, strict=True))
    predicted_sizes = Counter(predicted)
    true_sizes = Counter(truth)
    right = sum(n for (p, t), n in pairs.items() if n == predicted_sizes[p] and n == true_sizes[t])
    return right / len(truth)


def final_ids(messages: Sequence[str], settings: MiningSettings = DEFAULT_SETTINGS) -> list[str]:
    """Each line's template id once every line was mined (ids resolved to the newest)."""
    miner = TemplateMiner(settings=settings)
    ids = [miner.mine(m, i).template_id for i, m in enumerate(messages)]
    return [miner.resolve(t) for t in ids]


def stock_drain3(masked: bool = False) -> Drain3Miner:
    """Drain3 with its default settings; with Drain3's usual IP and number masking if asked."""
    config = TemplateMinerConfig()  # defaults; never `.load()` (no drain3.ini)
    config.profiling_enabled = False
    if masked:
        config.masking_instructions = [STOCK_IP, STOCK_NUMBER]
    return Drain3Miner(config=config)


def stock_ids(messages: Sequence[str], masked: bool = False) -> list[int]:
    miner = stock_drain3(masked)
    return [miner.add_log_message(m)["cluster_id"] for m in messages]


def accuracy(log: LabelledLog, settings: MiningSettings) -> float:
    return grouping_accuracy(final_ids(log.messages, settings), log.event_ids)


def stock_accuracy(log: LabelledLog) -> float:
    return grouping_accuracy(stock_ids(log.messages), log.event_ids)


def fresh_numbers(messages: Sequence[str], replays: int, seed: int = 7) -> list[str]:
    """`messages` `replays` times over, every number of 2+ digits redrawn each time.

    The events stay the same while ids, counters and ports never repeat, as on a busy
    system: the number of templates should stay near the number of true events.
    """
    rng = random.Random(seed)

    def redraw(match: re.Match[str]) -> str:
        digits = len(match.group())
        return str(rng.randrange(10 ** (digits - 1), 10**digits))

    return [_NUMBER_RUN.sub(redraw, m) for _ in range(replays) for m in messages]


@dataclass(frozen=True, slots=True)
class DenseCount:
    events: int  # true EventIds
    ours: int
    stock_masked: int


def dense_templates(
    logs: Sequence[LabelledLog], settings: MiningSettings, replays: int, stock: bool = True
) -> DenseCount:
    """Templates made from all `logs` replayed with fresh numbers, through one miner."""
    lines = [line for log in logs for line in fresh_numbers(log.messages, replays)]
    miner = TemplateMiner(max_templates=100_000, settings=settings)
    miner.mine_many((line, i) for i, line in enumerate(lines))
    stock_count = 0
    if stock:
        drain3 = stock_drain3(masked=True)
        for line in lines:
            drain3.add_log_message(line)
        stock_count = len(drain3.drain.clusters)
    events = len({(log.system, e) for log in logs for e in log.event_ids})
    return DenseCount(events, len(miner.templates()), stock_count)
