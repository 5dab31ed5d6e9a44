"""The development sets: which services, which real lines, which incidents when.

Minutes count from each set's start. Every set is deterministic for its seed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from random import Random

from workers.devsets import incidents as inc
from workers.devsets.streams import (
    HEALTH,
    LEGACY,
    NOVA_COMPUTE,
    PROXY,
    WEB,
    render_apache,
    render_health,
    render_linux,
    render_nova_compute,
    render_proxifier,
)
from workers.devsets.timeline import Timeline, daily_cycle
from workers.sample.cloudrun import AUDIT, audit_payload, cloud_run_stream, render_compute_api
from workers.sample.deploy import NEW, OLD, held_out_pairs, is_nova_api
from workers.sample.entries import Payload
from workers.sample.loghub import LoghubLine, offsets_ns, read_system
from workers.sample.scenario import replay_at_offsets
from workers.sample.services import (
    BASTION,
    HADOOP,
    HDFS,
    SPARK,
    ZOOKEEPER,
    render_hadoop,
    render_hdfs,
    render_spark,
    render_sshd,
    render_zookeeper,
)
from workers.sample.stories import HADOOP_OUTAGE_ROW, SSH_BURST_ROWS, SSH_QUIET_ROWS

SEED = 20261109


def platform(loghub: Path) -> Timeline:
    """Data platform on GKE and Dataproc: crash loop, error burst, new failure, spike."""
    tl = Timeline("platform", datetime(2026, 11, 9, 8, tzinfo=UTC), 4, SEED)
    spark = read_system(loghub, "Spark")
    hadoop = read_system(loghub, "Hadoop")
    zookeeper = read_system(loghub, "Zookeeper")
    hdfs = tl.lane(HDFS, render_hdfs, read_system(loghub, "HDFS"), 15)
    healthy = [line for line in hadoop[:HADOOP_OUTAGE_ROW] if line.level == "INFO"]
    keep = Random(f"{SEED}:hadoop-outage")  # the outage logs ~200 lines a minute: a quarter
    outage = [line for line in hadoop[HADOOP_OUTAGE_ROW:] if keep.random() < 0.25]
    etl = tl.lane(HADOOP, render_hadoop, healthy, 12)
    inc.at_real_pace(tl, etl, outage, 60, "error_burst", replaces_usual=True)
    inc.crash_loop(tl, tl.lane(SPARK, render_spark, spark, 20), spark, 100, 10)
    usual = [line for line in zookeeper if line.level != "ERROR"]
    zk = tl.lane(ZOOKEEPER, render_zookeeper, usual, 8)
    failing = [line for line in zookeeper if line.event_id == "E49"]
    inc.spread_over(tl, zk, failing, 150, 5, "new_failure_message")
    inc.extra_traffic(tl, hdfs, hdfs.pool, 200, 6, 90, "volume_spike")
    return tl


def edge(loghub: Path) -> Timeline:
    """Hosts at the edge: brute force, template burst, rare-message burst, drop, silence."""
    tl = Timeline("edge", datetime(2026, 11, 10, 8, tzinfo=UTC), 4, SEED + 1)
    ssh = read_system(loghub, "OpenSSH")
    apache = read_system(loghub, "Apache")
    proxifier = read_system(loghub, "Proxifier")
    quiet_ssh = [ssh[i] for rows in SSH_QUIET_ROWS for i in rows]
    bastion = tl.lane(BASTION, render_sshd, quiet_ssh, 3)
    web = tl.lane(WEB, render_apache, apache, 10)
    proxy = tl.lane(PROXY, render_proxifier, proxifier, 15)
    legacy = tl.lane(LEGACY, render_linux, read_system(loghub, "Linux"), 6)
    burst = [ssh[i] for i in SSH_BURST_ROWS]
    inc.at_real_pace(tl, bastion, burst, 70, "auth_failure_burst")
    forbidden = _event(apache, "E4")  # "Directory index forbidden by rule": known, ~1.6 %
    inc.extra_traffic(tl, web, forbidden, 130, 8, 8, "template_burst")
    closed = _event(proxifier, "E6")  # "Proxy closed the connection unexpectedly": 3 in 2k
    inc.extra_traffic(tl, proxy, closed, 160, 5, 8, "rare_template_burst")
    inc.quiet(tl, legacy, 190, 30, 0.0, "silent_stream")
    inc.quiet(tl, web, 205, 15, 0.1, "volume_drop")
    return tl


def api(loghub: Path) -> Timeline:
    """compute-api on Cloud Run and nova-compute: latency, 5xx, parameter, deploy."""
    tl = Timeline("api", datetime(2026, 11, 11, 8, tzinfo=UTC), 4, SEED + 2)
    openstack = read_system(loghub, "OpenStack")
    nova_api = [line for line in openstack if is_nova_api(line)]
    pairs = held_out_pairs(nova_api)
    held = {line.row for pair in pairs for line in pair}
    serving_from = tl.at(180.1)
    render = _revisions(serving_from, tl.rng("instances"))
    usual = [line for line in nova_api if line.row not in held]
    front = tl.lane(cloud_run_stream(OLD), render, usual, 30)
    compute_lines = [line for line in openstack if line.get("Logrecord").startswith("nova-compute")]
    compute = tl.lane(NOVA_COMPUTE, render_nova_compute, compute_lines, 20)
    tl.lane(HEALTH, render_health, read_system(loghub, "HealthApp"), 10)
    inc.tampered(tl, front, 60, 10, inc.slower(6.0), "latency_increase")
    inc.tampered(tl, front, 120, 8, inc.failing(0.35), "http_5xx_burst")
    inc.tampered(tl, compute, 150, 10, inc.scaled_durations(20.0), "parameter_outlier")
    tl.emit(AUDIT, audit_payload(tl.at(179.5), NEW), tl.at(179.5))
    start, gap = tl.at(182), (tl.at(189) - tl.at(182)) // len(pairs)
    last = start
    for i, pair in enumerate(pairs):
        first = start + i * gap + tl.rng(f"pair{i}").randrange(gap // 2)
        last = replay_at_offsets(
            tl.emitter, cloud_run_stream(NEW), render, pair, offsets_ns(pair), first
        )
    tl.label(front.service, start, last + inc.SECOND_NS, "deploy_regression")
    return tl


def quiet_day(loghub: Path) -> Timeline:
    """A clean day: six services at low rates with a daily cycle, and no incident."""
    tl = Timeline("quiet-day", datetime(2026, 11, 12, tzinfo=UTC), 24, SEED + 3)
    cycle = daily_cycle(0.5)
    zookeeper = [line for line in read_system(loghub, "Zookeeper") if line.level != "ERROR"]
    openstack = read_system(loghub, "OpenStack")
    compute_lines = [line for line in openstack if line.get("Logrecord").startswith("nova-compute")]
    tl.lane(HDFS, render_hdfs, read_system(loghub, "HDFS"), 5, cycle)
    tl.lane(ZOOKEEPER, render_zookeeper, zookeeper, 4, cycle)
    tl.lane(HEALTH, render_health, read_system(loghub, "HealthApp"), 5, cycle)
    tl.lane(WEB, render_apache, read_system(loghub, "Apache"), 3, cycle)
    tl.lane(PROXY, render_proxifier, read_system(loghub, "Proxifier"), 4, cycle)
    tl.lane(NOVA_COMPUTE, render_nova_compute, compute_lines, 3, cycle)
    return tl


def _event(lines: list[LoghubLine], event_id: str) -> list[LoghubLine]:
    return [line for line in lines if line.event_id == event_id]


def _revisions(serving_from: int, rng: Random) -> Callable[[LoghubLine, int], Payload]:
    """compute-api's lines from whichever revision serves at the time, on either instance."""

    def render(line: LoghubLine, ns: int) -> Payload:
        revision = NEW if ns >= serving_from else OLD
        return render_compute_api(line, revision, rng.randrange(2))

    return render


SETS: dict[str, Callable[[Path], Timeline]] = {
    "platform": platform,
    "edge": edge,
    "api": api,
    "quiet-day": quiet_day,
}
