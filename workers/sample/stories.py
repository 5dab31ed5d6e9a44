"""bastion-1 (sshd), etl-hadoop (MapReduce), zookeeper and hdfs: four hours of each."""

from __future__ import annotations

from random import Random

from workers.sample import Incident
from workers.sample.loghub import LoghubLine, offsets_ns
from workers.sample.scenario import (
    END_NS,
    START_NS,
    Emitter,
    Replay,
    arrivals,
    at,
    moment,
    replay_at_offsets,
    steady,
)
from workers.sample.services import (
    BASTION,
    HADOOP,
    HDFS,
    ZOOKEEPER,
    render_hadoop,
    render_hdfs,
    render_sshd,
    render_zookeeper,
)

# OpenSSH_2k: rows 1086-1610 are one dense brute force (183.62.140.253 and others) that
# logged about 90 lines a minute for six minutes; the rest is the usual Internet drizzle.
SSH_BURST_ROWS = range(1086, 1611)
SSH_QUIET_ROWS = (range(0, 516), range(946, 1086))
SSH_BURST_AT = at(8, 52)
# Hadoop_2k: from row 767 on the job loses its ResourceManager (a network failure).
HADOOP_OUTAGE_ROW = 767
HADOOP_OUTAGE_AT = at(9, 31)
HADOOP_KEPT = 0.25  # the outage logs ~200 lines a minute; keep a quarter, in order
ZK_FAILURE_FROM, ZK_FAILURE_UNTIL = at(11, 30), at(11, 35, 30)


def bastion_story(emitter: Emitter, lines: list[LoghubLine], seed: int) -> Incident:
    """A few sshd lines a minute all day; at 08:52 a brute force at thirty times that."""
    rng = Random(f"{seed}:bastion")
    quiet = [lines[i] for rows in SSH_QUIET_ROWS for i in rows]
    replay = Replay(quiet, start=rng.randrange(len(quiet)))
    steady(emitter, BASTION, render_sshd, replay, arrivals(rng, START_NS, END_NS, 3))
    burst = [lines[i] for i in SSH_BURST_ROWS]
    last = replay_at_offsets(emitter, BASTION, render_sshd, burst, offsets_ns(burst), SSH_BURST_AT)
    return Incident(
        id="bastion-auth-failure-burst",
        kind="auth_failure_burst",
        service=BASTION.service,
        resource_type=BASTION.resource_type,
        start=moment(SSH_BURST_AT),
        end=moment(last + 10**9),
        description=(
            f"{len(burst)} sshd lines in {(last - SSH_BURST_AT) / 60e9:.0f} minutes against "
            "about 3 a minute otherwise: 'Failed password for root', 'Invalid user', "
            "pam_unix 'authentication failure' from a few addresses (183.62.140.253 most)."
        ),
        signals=("auth_failure",),
    )


def hadoop_story(emitter: Emitter, lines: list[LoghubLine], seed: int) -> Incident:
    """MapReduce progress logs; at 09:31 the ResourceManager is unreachable for six minutes."""
    rng = Random(f"{seed}:hadoop")
    healthy = [line for line in lines[:HADOOP_OUTAGE_ROW] if line.level == "INFO"]
    outage = [line for line in lines[HADOOP_OUTAGE_ROW:] if rng.random() < HADOOP_KEPT]
    replay = Replay(healthy, start=rng.randrange(len(healthy)))
    steady(emitter, HADOOP, render_hadoop, replay, arrivals(rng, START_NS, HADOOP_OUTAGE_AT, 12))
    last = replay_at_offsets(
        emitter, HADOOP, render_hadoop, outage, offsets_ns(outage), HADOOP_OUTAGE_AT
    )
    steady(emitter, HADOOP, render_hadoop, replay, arrivals(rng, last + 10**9, END_NS, 12))
    errors = sum(line.level in ("ERROR", "FATAL") for line in outage)
    return Incident(
        id="etl-hadoop-error-burst",
        kind="error_burst",
        service=HADOOP.service,
        resource_type=HADOOP.resource_type,
        start=moment(HADOOP_OUTAGE_AT),
        end=moment(last + 10**9),
        description=(
            f"The MapReduce application master loses its ResourceManager: {len(outage)} lines "
            f"in six minutes, {errors} of them ERROR or FATAL ('ERROR IN CONTACTING RM.', "
            "NoRouteToHostException) and most of the rest WARN ('Address change detected', "
            "'Failed to renew lease'), where the hours around log only INFO."
        ),
        signals=("error_burst",),
    )


def zookeeper_story(emitter: Emitter, lines: list[LoghubLine], seed: int) -> Incident:
    """ZooKeeper's usual chatter, with its ERROR lines held back until 11:30."""
    rng = Random(f"{seed}:zookeeper")
    usual = [line for line in lines if line.level != "ERROR"]
    failing = [line for line in lines if line.event_id == "E49"]
    replay = Replay(usual, start=rng.randrange(len(usual)))
    steady(emitter, ZOOKEEPER, render_zookeeper, replay, arrivals(rng, START_NS, END_NS, 8))
    gap = (ZK_FAILURE_UNTIL - ZK_FAILURE_FROM - 20 * 10**9) // len(failing)
    for i, line in enumerate(failing):
        when = ZK_FAILURE_FROM + i * gap + round(rng.uniform(0.1, 0.6) * gap)
        emitter.emit(ZOOKEEPER, render_zookeeper(line, when), when)
    return Incident(
        id="zookeeper-new-failure",
        kind="new_failure_message",
        service=ZOOKEEPER.service,
        resource_type=ZOOKEEPER.resource_type,
        start=moment(ZK_FAILURE_FROM),
        end=moment(ZK_FAILURE_UNTIL),
        description=(
            f"The leader logs 'Unexpected exception causing shutdown while sock still open' "
            f"(LearnerHandler, ERROR) {len(failing)} times in five minutes as followers drop; "
            "the message appears nowhere earlier in the sample."
        ),
        signals=("new_template",),
    )


def hdfs_story(emitter: Emitter, lines: list[LoghubLine], seed: int) -> None:
    """HDFS block traffic all day, with its routine 'Got exception while serving' warnings."""
    rng = Random(f"{seed}:hdfs")
    replay = Replay(lines, start=rng.randrange(len(lines)))
    steady(emitter, HDFS, render_hdfs, replay, arrivals(rng, START_NS, END_NS, 15))
