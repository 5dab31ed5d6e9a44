"""What the wire does to a log stream: broken lines and redelivered copies."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from random import Random
from typing import Any

from workers.sample.entries import Record

MALFORMED_SHARE = 0.003
DUPLICATE_SHARE = 0.003
MAX_REDELIVERY_LAG = 40  # lines; a redelivered copy arrives a little later than the first


def dumps(entry: dict[str, Any]) -> bytes:
    """One JSON line, compact, as a sink writes it."""
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Faults:
    lines: list[bytes]
    malformed: Counter[str] = field(default_factory=Counter)  # by kind
    duplicates: int = 0


def truncated(line: bytes, rng: Random) -> bytes:
    return line[: rng.randint(24, len(line) - 8)]


def invalid_utf8(line: bytes, rng: Random) -> bytes:
    """Bytes that are no UTF-8 at all, inside the message string."""
    for marker in (b'"message":"', b'"textPayload":"'):
        at = line.find(marker)
        if at >= 0:
            cut = at + len(marker)
            return line[:cut] + rng.choice([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80"]) + line[cut:]
    raise ValueError("no message string to corrupt")


def wrong_type(line: bytes, rng: Random) -> bytes:
    """Valid JSON whose payload has the wrong type."""
    entry = json.loads(line)
    if "jsonPayload" in entry:
        entry["jsonPayload"] = entry["jsonPayload"].get("message", "")
    else:
        entry["textPayload"] = rng.choice([len(entry["textPayload"]), None, ["text"]])
    return dumps(entry)


_BREAKERS = {"truncated": truncated, "invalid_utf8": invalid_utf8, "wrong_type": wrong_type}


def apply_faults(records: list[Record], rng: Random) -> Faults:
    """Serialises `records` (in order), breaks ~0.3 % and redelivers ~0.3 % of them."""
    lines = [dumps(record.entry) for record in records]
    fragile = [i for i, record in enumerate(records) if record.fragile]
    picked = rng.sample(fragile, round(len(records) * (MALFORMED_SHARE + DUPLICATE_SHARE)))
    broken, copied = picked[: len(picked) // 2], sorted(picked[len(picked) // 2 :])
    faults = Faults(lines=[])
    kinds = list(_BREAKERS)
    for n, index in enumerate(sorted(broken)):
        kind = kinds[n % len(kinds)]
        lines[index] = _BREAKERS[kind](lines[index], rng)
        faults.malformed[kind] += 1
    later: defaultdict[int, list[bytes]] = defaultdict(list)
    for index in copied:
        later[index + rng.randint(1, MAX_REDELIVERY_LAG)].append(lines[index])
    for index, line in enumerate(lines):
        faults.lines.append(line)
        faults.lines.extend(later.pop(index, []))
    for leftovers in later.values():
        faults.lines.extend(leftovers)
    faults.duplicates = len(copied)
    return faults
