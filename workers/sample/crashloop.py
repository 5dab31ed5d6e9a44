"""spark-executor: Spark task logs on GKE, and a crash loop (JVM out of heap) at 10:08."""

from __future__ import annotations

import re
from random import Random

from workers.sample import Incident
from workers.sample.loghub import LoghubLine, made_up, offsets_ns
from workers.sample.scenario import (
    END_NS,
    START_NS,
    Emitter,
    Replay,
    arrivals,
    at,
    moment,
    replay_at_offsets,
    spread,
    steady,
)
from workers.sample.services import SPARK, render_spark

PER_MINUTE = 20
STARTUP_ROWS = 20  # Spark_2k rows 0-19: signal handlers ... "Registered BlockManager"
CRASH_FROM, CRASH_UNTIL = at(10, 8), at(10, 18)

# Spark's own messages for a task that runs out of heap (Executor, SparkUncaughtExceptionHandler,
# the shutdown hooks); they are not in the 2k sample, which has no failure.
_OOM_FRAMES = (
    "java.lang.OutOfMemoryError: Java heap space",
    "at java.util.Arrays.copyOf(Arrays.java:3236)",
    "at java.io.ByteArrayOutputStream.grow(ByteArrayOutputStream.java:118)",
    "at java.io.ByteArrayOutputStream.ensureCapacity(ByteArrayOutputStream.java:93)",
    "at java.io.ByteArrayOutputStream.write(ByteArrayOutputStream.java:153)",
    "at org.apache.spark.util.ByteBufferOutputStream.write(ByteBufferOutputStream.scala:41)",
    "at java.io.ObjectOutputStream$BlockDataOutputStream.drain(ObjectOutputStream.java:1877)",
    "at java.io.ObjectOutputStream.writeObject0(ObjectOutputStream.java:1189)",
    "at java.io.ObjectOutputStream.writeObject(ObjectOutputStream.java:348)",
    "at org.apache.spark.serializer.JavaSerializationStream.writeObject(JavaSerializer.scala:44)",
    "at org.apache.spark.serializer.JavaSerializerInstance.serialize(JavaSerializer.scala:101)",
    "at org.apache.spark.executor.Executor$TaskRunner.run(Executor.scala:239)",
    "at java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1142)",
    "at java.util.concurrent.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:617)",
    "at java.lang.Thread.run(Thread.java:745)",
)
_OOM_TRACE = "\n\t".join(_OOM_FRAMES)
_RUNNING = re.compile(r"Running task (\d+)\.0 in stage 0\.0")
_APP_DIR = "/opt/hdfs/nodemanager/usercache/curi/appcache/application_1485248649253_0147"


def crash_lines(task: int, scratch: str) -> list[LoghubLine]:
    """What the executor logs as it dies: the task's OOM, the uncaught handler, the hooks."""
    return [
        made_up(
            "Spark",
            "ERROR",
            "executor.Executor",
            f"Exception in task {task}.0 in stage 0.0 (TID {task})\n{_OOM_TRACE}",
        ),
        made_up(
            "Spark",
            "ERROR",
            "util.SparkUncaughtExceptionHandler",
            "Uncaught exception in thread "
            f"Thread[Executor task launch worker-{task},5,main]\n{_OOM_TRACE}",
        ),
        made_up("Spark", "INFO", "storage.DiskBlockManager", "Shutdown hook called"),
        made_up("Spark", "INFO", "util.ShutdownHookManager", "Shutdown hook called"),
        made_up(
            "Spark",
            "INFO",
            "util.ShutdownHookManager",
            f"Deleting directory {_APP_DIR}/spark-{scratch}",
        ),
    ]


def _one_life(emitter: Emitter, lines: list[LoghubLine], rng: Random, start_ns: int) -> int:
    """The executor starts (real startup and first task lines), then dies; returns its end."""
    alive = lines[: rng.randint(STARTUP_ROWS + 6, STARTUP_ROWS + 14)]
    offsets = spread(offsets_ns(alive), rng)
    last = replay_at_offsets(emitter, SPARK, render_spark, alive, offsets, start_ns)
    running = [int(m[1]) for line in alive if (m := _RUNNING.match(line.content))]
    scratch = f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}"
    dying = crash_lines(rng.choice(running or [0]), scratch)
    death = last + round(rng.uniform(2.0, 6.0) * 1e9)
    spacing = [0, 4_000_000, 41_000_000, 43_000_000, 47_000_000]
    return replay_at_offsets(emitter, SPARK, render_spark, dying, spacing, death)


def spark_story(emitter: Emitter, lines: list[LoghubLine], seed: int) -> Incident:
    """Steady task logs; from 10:08 ten minutes of start, OOM, restart; then a clean start."""
    rng = Random(f"{seed}:spark")
    replay = Replay(lines, start=rng.randrange(len(lines)))
    steady(emitter, SPARK, render_spark, replay, arrivals(rng, START_NS, CRASH_FROM, PER_MINUTE))
    start, died, restarts = CRASH_FROM, CRASH_FROM, 0
    while start < CRASH_UNTIL:
        died = _one_life(emitter, lines, rng, start)
        restarts += 1
        start = died + round(rng.uniform(14.0, 22.0) * 1e9)  # kubelet back-off, then start
    # The next start survives: the real start-up lines, then the logs from row 20 on.
    boot = lines[:STARTUP_ROWS]
    up = replay_at_offsets(emitter, SPARK, render_spark, boot, spread(offsets_ns(boot), rng), start)
    replay = Replay(lines, start=STARTUP_ROWS)
    steady(emitter, SPARK, render_spark, replay, arrivals(rng, up, END_NS, PER_MINUTE))
    return Incident(
        id="spark-executor-crash-loop",
        kind="crash_loop",
        service=SPARK.service,
        resource_type=SPARK.resource_type,
        start=moment(CRASH_FROM),
        end=moment(died + 10**9),
        description=(
            f"spark-executor starts, runs its first tasks and dies of "
            f"java.lang.OutOfMemoryError: Java heap space {restarts} times, about every 30 s: "
            "Spark's real start-up lines (signal handlers, SecurityManager, remoting, "
            "BlockManager) between 'Exception in task' and 'Uncaught exception in thread' "
            "errors with the same stack trace, then shutdown hooks."
        ),
        signals=("crash", "resource_exhaustion", "new_template"),
    )
