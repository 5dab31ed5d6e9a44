"""Invariant 4 across workers: whichever worker meets a line first, all name it alike."""

from __future__ import annotations

import multiprocessing
import uuid

import pytest
import redis

from pipeline.templates import TemplateMiner
from workers.shared_miner import SharedMiner

REDIS_URL = "redis://127.0.0.1:6379/15"


def _lines(who: str) -> list[tuple[str, int]]:
    # Long lines that differ in one unmasked word: Drain generalizes them once it meets
    # two names, so a lone miner's name for a line depends on what else it has met.
    return [
        (f"session opened for account {who} on terminal console by the login service {i}", i)
        for i in range(5)
    ] + [(f"Connection closed by 10.1.2.{i} port {40000 + i} [preauth]", i) for i in range(5)]


PROBE = _lines("alice")


@pytest.fixture
def prefix():
    prefix = f"test-{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)


def _names(miner) -> list[str]:
    return [miner.resolve(m.template_id) for m in miner.mine_many(PROBE)]


def test_lone_miners_disagree():
    """Why the tree is shared: a worker that met only alice names her line apart."""
    first, second = TemplateMiner(100), TemplateMiner(100)
    first.mine_many(_lines("alice"))
    second.mine_many(_lines("bob"))
    assert _names(first) != _names(second)


def _worker(prefix: str, who: str, start, names) -> None:
    miner = SharedMiner(redis.Redis.from_url(REDIS_URL), 100, prefix)
    start.wait(timeout=30)
    miner.mine_many(_lines(who))
    start.wait(timeout=30)  # both have mined before either names the probe lines
    names.put((who, _names(miner)))


def test_two_worker_processes_name_every_line_alike(prefix):
    ctx = multiprocessing.get_context("spawn")
    start, names = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(prefix, who, start, names))
               for who in ("alice", "bob")]
    for w in workers:
        w.start()
    results = dict(names.get(timeout=60) for _ in workers)
    for w in workers:
        w.join(timeout=30)
    assert results["alice"] == results["bob"]
    assert len(set(results["alice"])) == 2  # sessions and closed connections
