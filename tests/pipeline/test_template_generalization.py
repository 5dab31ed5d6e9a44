"""The miner on logs it was not tuned on: words with numbers, short lines, dense streams,
free text."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator

import pytest
from drain3.drain import Drain, LogCluster, Node
from hypothesis import given
from hypothesis import strategies as st

from pipeline.templates import DEFAULT_SETTINGS, LogMasker, TemplateChange, TemplateMiner
from pipeline.templates.drain import ParameterDrain, _sole_difference
from pipeline.templates.masking import PLACEHOLDERS
from tests.pipeline.loghub import load_all

LEAF_LIMIT = DEFAULT_SETTINGS.leaf_limit
MIXED = [
    ("generating core.2275", "generating <ID>"),
    ("ciod: LOGIN chdir(/p/gb1) failed on an14", "ciod: LOGIN chdir(<PATH>) failed on <ID>"),
    ("job_1445144423722_0020 on rack-r12.b7", "job_<NUM>_<NUM> on <ID>"),
    ("arch x86_64 kernel", "arch <ID> kernel"),
    ("Link Up on en0 over IPV6", "Link Up on en0 over IPV6"),  # one digit: a name
]


@pytest.mark.parametrize(("raw", "masked"), MIXED)
def test_words_holding_numbers(raw: str, masked: str) -> None:
    assert LogMasker().mask(raw) == masked


def test_a_short_line_keeps_one_template_when_a_word_varies() -> None:
    miner = TemplateMiner()
    ids = [miner.mine(f"link up on wlan{c}", i).template_id for i, c in enumerate("abcdefghij")]
    final = {miner.resolve(i) for i in ids}
    assert len(final) == 1
    assert len(miner.templates()) == 1
    assert miner.templates()[0].template == "link up on <*>"
    assert miner.templates()[0].count == 10


def test_a_word_with_few_values_stays_an_event() -> None:
    miner = TemplateMiner()
    for i in range(20):
        miner.mine(f"open through proxy {('HTTPS', 'SOCKS5')[i % 2]}", i)
    assert sorted(t.template for t in miner.templates()) == [
        "open through proxy HTTPS",
        "open through proxy SOCKS5",
    ]


def test_absorbed_templates_resolve_to_the_merged_one() -> None:
    miner = TemplateMiner()
    first = [miner.mine(f"link up on wlan{c}", i) for i, c in enumerate("abcde")]
    assert all(m.change is TemplateChange.CREATED for m in first)
    merged = miner.mine("link up on wlanf", 5)
    assert merged.change is TemplateChange.GENERALIZED
    assert merged.previous_id == first[0].template_id  # the oldest keeps its cluster
    assert {miner.resolve(m.template_id) for m in first} == {merged.template_id}
    assert set(miner.ancestors(merged.template_id)) == {m.template_id for m in first}
    stats = miner.stats(first[3].template_id)
    assert stats is not None and (stats.count, stats.first_seen_ns, stats.last_seen_ns) == (6, 0, 5)
    restored = TemplateMiner.restore(miner.snapshot())
    assert restored.mine("link up on wlanz", 9).template_id == merged.template_id


def test_a_template_with_wildcards_still_takes_its_lines() -> None:
    miner = TemplateMiner()
    words = "the backup of volume {} on cluster {} completed and was verified"
    miner.mine(words.format("one", "east"), 0)
    miner.mine(words.format("two", "east"), 1)
    both = miner.mine(words.format("two", "west"), 2)
    assert both.template.count("<*>") == 2
    later = miner.mine(words.format("six", "north"), 3)
    assert later.change is TemplateChange.NONE and later.template_id == both.template_id


def test_lines_met_before_get_the_answer_a_tree_walk_gives() -> None:
    logs = [log for log in load_all() if log.system in ("Android", "Mac", "HPC")]
    lines = [(m, i) for log in logs for i, m in enumerate(log.messages)] * 2
    cached, walked = TemplateMiner(), TemplateMiner(seen_lines=0)
    assert cached.mine_many(lines) == walked.mine_many(lines)
    assert cached.templates() == walked.templates()
    assert cached.snapshot() == walked.snapshot()


@pytest.mark.parametrize("max_templates", [10_000, 12])
def test_lines_mined_together_leave_the_miner_as_lines_mined_one_by_one(
    max_templates: int,
) -> None:
    """`mine_many` settles the lines met before once per template: the answers, the
    counts and times (out of order here), the LRU orders that decide which template goes
    first (12: many go) and the snapshot come out as `mine`'s, line by line."""
    rng = random.Random(5)
    logs = [log for log in load_all() if log.system in ("Android", "Mac", "HPC")]
    lines = [(m, rng.randrange(10**9)) for log in logs for m in log.messages] * 2
    together, one_by_one = TemplateMiner(max_templates), TemplateMiner(max_templates)
    batches = (lines[start : start + 97] for start in range(0, len(lines), 97))
    assert [m for batch in batches for m in together.mine_many(batch)] == [
        one_by_one.mine(message, at) for message, at in lines
    ]
    assert together.templates() == one_by_one.templates()
    assert together.snapshot() == one_by_one.snapshot()
    assert _drain_lru_order(together) == _drain_lru_order(one_by_one)


@pytest.mark.parametrize("seen_lines", [16_384, 40])
def test_runs_of_lines_met_before_leave_the_miner_as_lines_mined_one_by_one(
    seen_lines: int,
) -> None:
    """Runs of lines met before, some again within the run, out of order in time, cut by
    lines Drain walks, in caches that fit the lines or hold 40 of them (evicted within
    a run): answers, stats, snapshot and LRU orders as `mine` gives them. Long lines
    are mined by their head, and text that cannot be stored as UTF-8 is mined too."""
    rng = random.Random(11)
    logs = [log for log in load_all() if log.system in ("HDFS", "Zookeeper", "OpenSSH")]
    known = [m for log in logs for m in log.messages[:300]]
    odd = ["x" * 5000 + " tail 1", "x" * 5000 + " tail 2", "bad \udc80 byte 7"]

    def line() -> str:
        if rng.random() < 0.9:
            return rng.choice(known)
        word = rng.choice(string.ascii_lowercase)
        return rng.choice([*odd, f"new line {rng.randrange(50)} of {word}"])

    lines = [(line(), rng.randrange(10**9)) for _ in range(6000)]
    together = TemplateMiner(500, seen_lines=seen_lines)
    one_by_one = TemplateMiner(500, seen_lines=seen_lines)
    cuts = sorted(rng.sample(range(1, len(lines)), 40))
    batches = [lines[a:b] for a, b in zip([0, *cuts], [*cuts, len(lines)], strict=True)]
    assert [m for batch in batches for m in together.mine_many(batch)] == [
        one_by_one.mine(message, at) for message, at in lines
    ]
    assert together.templates() == one_by_one.templates()
    assert together.snapshot() == one_by_one.snapshot()
    assert _drain_lru_order(together) == _drain_lru_order(one_by_one)


def _drain_lru_order(miner: TemplateMiner) -> list[int]:
    """The ids of Drain's clusters, least recently used first (emptying its cache)."""
    clusters = miner._drain.id_to_cluster
    return [clusters.popitem()[0] for _ in range(len(clusters))]


def test_two_kinds_of_value_at_one_place_are_one_variable() -> None:
    miner = TemplateMiner()  # 7 tokens: one that differs is below the similarity alone
    a = miner.mine("close, 120 bytes sent, 9 bytes received, lifetime 00:01", 0)
    b = miner.mine("close, 80 bytes sent, 5 bytes received, lifetime <1 sec", 1)
    assert a.template == "close, <SIZE> sent, <SIZE> received, lifetime <TIME>"
    assert b.change is TemplateChange.GENERALIZED
    assert b.template == "close, <SIZE> sent, <SIZE> received, lifetime <*>"


def _free_text(rng: random.Random, vocabulary: list[str], words: int) -> str:
    return "search query received: " + " ".join(rng.choice(vocabulary) for _ in range(words))


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    return ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9)))
            for _ in range(size)]


def test_free_text_after_a_fixed_prefix_is_one_template() -> None:
    """Every line new: without a bound, a template per line, each line compared with all."""
    rng = random.Random(4)
    vocabulary = _vocabulary(rng, 3000)
    miner = TemplateMiner()
    first = [miner.mine(_free_text(rng, vocabulary, 4), i) for i in range(LEAF_LIMIT)]
    assert all(m.change is TemplateChange.CREATED for m in first)  # below the bound: Drain's
    for i in range(LEAF_LIMIT, 1000):
        miner.mine(_free_text(rng, vocabulary, 4), i)
    (only,) = miner.templates()
    assert only.template == "search query received: <*> <*> <*> <*>"
    assert only.count == 1000
    assert {miner.resolve(m.template_id) for m in first} == {only.template_id}


def test_distinct_events_below_the_bound_stay_apart() -> None:
    rng = random.Random(5)
    vocabulary = _vocabulary(rng, 3000)
    lines = {_free_text(rng, vocabulary, 4) for _ in range(LEAF_LIMIT - 1)}
    miner = TemplateMiner()
    for i, text in enumerate(sorted(lines) * 3):
        miner.mine(text, i)
    assert sorted(t.template for t in miner.templates()) == sorted(lines)


@pytest.mark.parametrize("words", [1, 3, 9])
def test_no_leaf_outgrows_the_bound(words: int) -> None:
    """Lines of random words (some holding digits, which Drain routes to `<*>`)."""
    rng = random.Random(words)
    vocabulary = _vocabulary(rng, 500) + [f"w{i}x" for i in range(500)]
    miner = TemplateMiner()
    for i in range(3000):
        miner.mine(" ".join(rng.choice(vocabulary) for _ in range(words)), i)
    drain = miner._drain
    assert max(_live(drain, leaf) for leaf in _leaves(drain.root_node)) <= LEAF_LIMIT
    assert len(miner.templates()) == len(drain.id_to_cluster)


def _leaves(node: Node) -> Iterator[Node]:
    if not node.key_to_child_node:
        yield node
    for child in node.key_to_child_node.values():
        yield from _leaves(child)


def _live(drain: ParameterDrain, leaf: Node) -> int:
    return sum(1 for cluster_id in leaf.cluster_ids if cluster_id in drain.id_to_cluster)


TOKENS = ["<*>", "<NUM>", "<IP>", "<DURATION>", "<ID>", "GET", "200", "ok"]


def _similarity_by_position(template: tuple[str, ...], line: list[str],
                            include_params: bool) -> tuple[float, int]:
    """Rules 1 and 2 as the module states them, one position at a time."""
    similar = params = 0
    for have, new in zip(template, line, strict=True):
        if have == "<*>":
            params += 1
        elif have == new or (have in PLACEHOLDERS and new in PLACEHOLDERS):
            similar += 1
    return (similar + params if include_params else similar) / len(template), params


@given(st.data())
def test_similarity_counts_what_each_position_says(data: st.DataObject) -> None:
    width = data.draw(st.integers(1, 12))
    template = tuple(data.draw(st.lists(st.sampled_from(TOKENS), min_size=width,
                                        max_size=width)))
    line = data.draw(st.lists(st.sampled_from(TOKENS), min_size=width, max_size=width))
    drain = ParameterDrain(variable_after=6, leaf_limit=100)
    for include_params in (True, False):
        assert drain.get_seq_distance(template, line, include_params) == \
            _similarity_by_position(template, line, include_params)
    differ = [i for i, (have, new) in enumerate(zip(template, line, strict=True))
              if have != new and have != "<*>"]
    assert _sole_difference(template, line, "<*>") == (differ[0] if len(differ) == 1 else None)


@given(st.lists(st.lists(st.sampled_from(TOKENS), min_size=6, max_size=6), min_size=1,
                max_size=12),
       st.lists(st.sampled_from(TOKENS), min_size=6, max_size=6),
       st.sampled_from([0.0, 0.5, 0.87]))
def test_the_best_match_is_drains_best_match(templates: list[list[str]], line: list[str],
                                             threshold: float) -> None:
    drain = ParameterDrain(variable_after=6, leaf_limit=100)
    ids = list(range(1, len(templates) + 1))
    for cluster_id, tokens in zip(ids, templates, strict=True):  # ties and all
        drain.id_to_cluster[cluster_id] = LogCluster(tokens, cluster_id)
    for include_params in (True, False):
        assert drain.fast_match(ids, line, threshold, include_params) is \
            Drain.fast_match(drain, ids, line, threshold, include_params)
