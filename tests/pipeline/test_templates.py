"""Template miner: stable ids, lineage, bounds, snapshots, masking and odd input."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc

import pytest

from pipeline.templates import (
    LogMasker,
    MiningSettings,
    SnapshotError,
    TemplateChange,
    TemplateMiner,
    template_id,
)
from tests.pipeline.loghub import REPO_ROOT

SHAPES = [
    "Accepted password for root from 10.0.0.7 port 52211 ssh2",
    "GET /api/v1/orders/8812 returned 200 in 35 ms",
    "Worker pool drained, 12 tasks left in queue default",
    "Disk /dev/sda1 is 91% full on node-17",
    "Session 0xdeadbeef42 closed by peer",
]
# Ten tokens differing in one word: Drain generalizes that word into <*>.
SHARD_LINES = [
    f"nightly compaction job for shard {name} finished without any errors"
    for name in ("alpha", "beta", "gamma")
]


def _mine_all(miner: TemplateMiner, lines: list[str]) -> dict[str, str]:
    return {line: miner.mine(line, i).template_id for i, line in enumerate(lines)}


def test_same_line_same_id_in_any_order() -> None:
    forward = _mine_all(TemplateMiner(), SHAPES)
    backward = _mine_all(TemplateMiner(), SHAPES[::-1])
    assert forward == backward
    assert len(set(forward.values())) == len(SHAPES)


def test_same_id_in_another_process() -> None:
    code = (
        "from pipeline.templates import TemplateMiner;"
        f"print(TemplateMiner().mine({SHAPES[0]!r}, 0).template_id)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == TemplateMiner().mine(SHAPES[0], 0).template_id


def test_id_is_a_hash_of_the_template_text() -> None:
    match = TemplateMiner().mine(SHAPES[1], 0)
    assert match.template == "GET <PATH> returned <NUM> in <DURATION>"
    assert match.template_id == template_id(match.template)
    assert match.template_id.startswith("t") and len(match.template_id) == 17


def test_change_kinds_and_lineage_after_generalization() -> None:
    miner = TemplateMiner()
    first, second, third = (miner.mine(line, i) for i, line in enumerate(SHARD_LINES))
    assert first.change is TemplateChange.CREATED and first.previous_id is None
    assert second.change is TemplateChange.GENERALIZED
    assert second.previous_id == first.template_id
    assert second.template == "nightly compaction job for shard <*> finished without any errors"
    assert third.change is TemplateChange.NONE and third.template_id == second.template_id
    assert miner.resolve(first.template_id) == second.template_id
    assert miner.template_text(first.template_id) == second.template
    stats = miner.stats(first.template_id)
    assert stats is not None
    assert (stats.template_id, stats.count, stats.first_seen_ns, stats.last_seen_ns) == (
        second.template_id,
        3,
        0,
        2,
    )
    assert [s.template_id for s in miner.templates()] == [second.template_id]
    assert miner.ancestors(second.template_id) == (first.template_id,)
    assert miner.ancestors(first.template_id) == ()


def test_lineage_chains_resolve_to_the_newest() -> None:
    miner = TemplateMiner()
    words = (
        "the scheduled backup of volume {} on cluster {} completed and was verified by the auditor"
    )
    a = miner.mine(words.format("one", "east"), 0)
    b = miner.mine(words.format("two", "east"), 1)
    c = miner.mine(words.format("two", "west"), 2)
    assert (b.previous_id, c.previous_id) == (a.template_id, b.template_id)
    assert c.template.count("<*>") == 2
    assert miner.resolve(a.template_id) == miner.resolve(b.template_id) == c.template_id
    assert miner.ancestors(c.template_id) == (b.template_id, a.template_id)


def test_unknown_id_resolves_to_itself() -> None:
    miner = TemplateMiner()
    assert miner.resolve("t0000000000000000") == "t0000000000000000"
    assert miner.stats("t0000000000000000") is None
    assert miner.template_text("t0000000000000000") is None


def test_stats_track_out_of_order_timestamps() -> None:
    miner = TemplateMiner()
    for ts in (50, 10, 90, 30):
        match = miner.mine(SHAPES[0], ts)
    stats = miner.stats(match.template_id)
    assert stats is not None and (stats.count, stats.first_seen_ns, stats.last_seen_ns) == (
        4,
        10,
        90,
    )


def test_least_recently_seen_template_is_evicted() -> None:
    miner = TemplateMiner(max_templates=3)
    ids = _mine_all(miner, SHAPES[:3])
    miner.mine(SHAPES[0], 10)  # SHAPES[1] is now the least recently seen
    newest = miner.mine(SHAPES[3], 11)
    kept = [s.template_id for s in miner.templates()]
    assert kept == [ids[SHAPES[2]], ids[SHAPES[0]], newest.template_id]
    assert miner.stats(ids[SHAPES[1]]) is None
    again = miner.mine(SHAPES[1], 12)
    assert again.change is TemplateChange.CREATED
    assert again.template_id == ids[SHAPES[1]]
    assert len(miner.templates()) == 3


def _word(i: int) -> str:
    return "".join("abcdefghij"[int(d)] for d in str(i))


def test_table_stays_bounded_under_many_shapes() -> None:
    miner = TemplateMiner(max_templates=50)
    for i in range(1000):  # every line differs from every other in all its words
        miner.mine(f"{_word(i)} {_word(i)}x {_word(i)}y", i)
    assert len(miner.templates()) == 50
    assert len(miner._drain.id_to_cluster) == 50


def test_lineage_is_bounded() -> None:
    miner = TemplateMiner(max_lineage=1)
    olds = []
    for team in ("red", "green", "blue"):  # three clusters: the first token differs
        miner.mine(f"{team} team banner colour for today was set to plain", 0)
        olds.append(miner.mine(f"{team} team banner colour for today was set to striped", 1))
    assert all(m.change is TemplateChange.GENERALIZED for m in olds)
    assert miner.resolve(olds[0].previous_id or "") == olds[0].previous_id  # link dropped
    assert miner.resolve(olds[2].previous_id or "") == olds[2].template_id


def test_match_learns_nothing() -> None:
    miner = TemplateMiner()
    created = miner.mine(SHAPES[0], 0)
    found = miner.match("Accepted password for root from 10.9.9.9 port 1 ssh2")
    assert found is not None and found.template_id == created.template_id
    assert miner.match("a shape never seen") is None
    assert len(miner.templates()) == 1


def test_snapshot_restores_ids_stats_and_lineage() -> None:
    miner = TemplateMiner(max_templates=100)
    before = _mine_all(miner, SHAPES + SHARD_LINES[:2])
    restored = TemplateMiner.restore(miner.snapshot())
    assert restored.templates() == miner.templates()
    first_shard = before[SHARD_LINES[0]]
    assert restored.resolve(first_shard) == miner.resolve(first_shard)
    for line in SHAPES + SHARD_LINES:
        again = restored.mine(line, 99)
        assert again.change is TemplateChange.NONE
        assert again.template_id == miner.resolve(before.get(line, again.template_id))


def test_restored_miner_learns_like_the_original() -> None:
    original = TemplateMiner(max_templates=4)
    _mine_all(original, SHAPES[:3])
    restored = TemplateMiner.restore(original.snapshot())
    more = SHARD_LINES + SHAPES[2:] + SHAPES[:2]
    assert [restored.mine(m, 5) for m in more] == [original.mine(m, 5) for m in more]
    assert restored.templates() == original.templates()


def test_restore_with_a_smaller_bound_keeps_the_newest() -> None:
    miner = TemplateMiner()
    ids = _mine_all(miner, SHAPES)
    smaller = TemplateMiner.restore(miner.snapshot(), max_templates=2)
    assert [s.template_id for s in smaller.templates()] == [ids[SHAPES[3]], ids[SHAPES[4]]]
    assert smaller.mine(SHAPES[0], 9).change is TemplateChange.CREATED


@pytest.mark.parametrize("data", [b"", b"garbage", b"LWTM1" + b"not zlib", b"LWTM1x\x9c"])
def test_restore_rejects_damaged_bytes(data: bytes) -> None:
    with pytest.raises(SnapshotError):
        TemplateMiner.restore(data)


def test_restore_rejects_other_settings() -> None:
    data = TemplateMiner(settings=MiningSettings(similarity=0.5)).snapshot()
    with pytest.raises(SnapshotError, match="other mining settings"):
        TemplateMiner.restore(data)


MASKING_CASES = [
    ("Connection from 10.0.0.1 port 22", "Connection from <HOST> port <NUM>"),
    ("peer 10.0.0.1:8080 reset", "peer <HOST> reset"),
    ("bind fe80::1ff:fe23:4567:890a ok", "bind <HOST> ok"),
    ("bind 2001:0db8:85a3:0000:0000:8a2e:0370:7334 ok", "bind <HOST> ok"),
    ("dial [2001:db8::1]:443 failed", "dial <HOST> failed"),
    ("proxy.example.com:8080 open", "<HOST> open"),
    ("lookup db.example.org failed", "lookup <HOST> failed"),
    ("hosts 10.0.0.1,10.0.0.2,10.0.0.3 up", "hosts <HOST> up"),
    ("retry 3 of 5, offset -12", "retry <NUM> of <NUM>, offset <NUM>"),
    ("ratio 0.25 version 6.1.7601.23505", "ratio <NUM> version <NUM>"),
    ("ptr 0x7fed806eb5d freed", "ptr <NUM> freed"),
    ("trace 9f4ef63a and blk_-6952295868487656571", "trace <NUM> and blk_<NUM>"),
    ("req 123e4567-e89b-12d3-a456-426614174000 done", "req <UUID> done"),
    ("mail to bob.smith+ops@example.co.uk sent", "mail to <EMAIL> sent"),
    ("GET https://api.example.com/v1/x?id=3 failed", "GET <URL> failed"),
    ("open /var/log/app/server.log failed", "open <PATH> failed"),
    ("GET /v2/54fadb41/servers/detail?all=1 HTTP/1.1", "GET <PATH> HTTP/<NUM>"),
    ("load conf/app/main.yaml", "load <PATH>"),
    ("Core: C:\\Windows\\winsxs\\cbscore.dll loaded", "Core: <PATH> loaded"),
    (
        "took 1.5 ms, then 3 seconds, lifetime <1 sec",
        "took <DURATION>, then <DURATION>, lifetime <DURATION>",
    ),
    ("sent 2034 bytes (1.98 KB), cache 512MiB", "sent <SIZE>, cache <SIZE>"),
    ("at 2024-01-02T03:04:05.123Z", "at <TIME>"),
    ("at Sun Jul 24 02:38:22 2005 boot", "at <TIME> boot"),
    ("[12:13:40.079] tick on 2016/9/27", "[<TIME>] tick on <TIME>"),
    ("Invalid user admin from 1.2.3.4", "Invalid user <USER> from <HOST>"),
    ("connection from 1.2.3.4 () at noon", "connection from <HOST> (<VAL>) at noon"),
    (
        "connection from 1.2.3.4 (host.example.net) at noon",
        "connection from <HOST> (<VAL>) at noon",
    ),
    ("a literal <*> in the text", "a literal <?> in the text"),
]
UNMASKED = [
    "CCFile::captureLog called",
    "ssh2 handshake via wcp.dll",
    "Instance spawned (spawning)",
    "setLightsOn(true) for read/write",
    "no variables here at all",
]


@pytest.mark.parametrize(("raw", "masked"), MASKING_CASES)
def test_masking(raw: str, masked: str) -> None:
    assert LogMasker().mask(raw) == masked


@pytest.mark.parametrize("raw", UNMASKED)
def test_constant_text_is_left_alone(raw: str) -> None:
    assert LogMasker().mask(raw) == raw


ODD_LINES = [
    "",
    "   \t  ",
    "naïve ünïcode ✓ 日本語 ١٢٣ 🚀 done",
    "lone surrogate \udcff here",
    "nul \x00 byte",
    "<*> <*> <*>",
    "x" * 1_000_000,
    "1." * 300_000,
    "(" * 100_000 + "a@" * 50_000,
]


@pytest.mark.parametrize("line", ODD_LINES, ids=range(len(ODD_LINES)))
def test_odd_lines_never_raise(line: str) -> None:
    miner = TemplateMiner()
    first = miner.mine(line, 0)
    second = miner.mine(line, 1)
    assert first.template_id == second.template_id == template_id(second.template)
    assert miner.match(line) is not None
    assert TemplateMiner.restore(miner.snapshot()).templates() == miner.templates()


def test_huge_lines_are_mined_by_their_head() -> None:
    miner = TemplateMiner(settings=MiningSettings(max_message_chars=100))
    head = "payload " * 20
    a = miner.mine(head + "tail one", 0)
    b = miner.mine(head + "completely different tail", 1)
    assert a.template_id == b.template_id


def test_literal_wildcards_do_not_multiply_templates() -> None:
    miner = TemplateMiner()
    ids = {miner.mine("cache <*> warmed", i).template_id for i in range(10)}
    assert len(ids) == 1 and len(miner.templates()) == 1


def test_long_lines_are_cached_within_a_character_budget() -> None:
    """A service of stack traces: every line new, a few kilobytes each. The caches hold
    what fits in `seen_chars`, not `seen_lines` of them."""
    frames = "\n".join(f"\tat com.acme.orders.Service.step{i}(Service.java:{i})"
                       for i in range(60))
    lines = [f"IllegalStateException: order {n:08d} not found\n{frames}" for n in range(3000)]
    budget = 500_000
    miner = TemplateMiner(seen_chars=budget)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ids = {miner.mine(line, i).template_id for i, line in enumerate(lines)}
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(ids) == 1
    # Unbounded by characters, the masked copies of the 3,000 lines took 4.6 MB.
    assert held < 4 * budget, f"the miner holds {held:,} bytes after {len(lines):,} lines"
    walked = TemplateMiner(seen_lines=0)
    assert walked.mine(lines[-1], 0).template == miner.mine(lines[-1], 1).template
