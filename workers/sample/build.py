"""Builds the bundled sample and its ground truth from Loghub's 2k samples.

    python -m workers.sample.build [--loghub DIR] [--out DIR]

Deterministic: the same Loghub files and seed give the same bytes (gzip with mtime 0).
"""

from __future__ import annotations

import gzip
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

from workers.sample import Incident, sample_path, truth_path
from workers.sample.crashloop import spark_story
from workers.sample.deploy import compute_api_story, deploy_record
from workers.sample.entries import PROJECT, log_name, rfc3339
from workers.sample.faults import apply_faults
from workers.sample.loghub import builder_arguments, read_system
from workers.sample.scenario import END_NS, START_NS, Emitter
from workers.sample.services import BASTION, HADOOP, HDFS, SPARK, ZOOKEEPER
from workers.sample.stories import bastion_story, hadoop_story, hdfs_story, zookeeper_story

SEED = 20261102
SOURCE = "Loghub 2k samples (https://github.com/logpai/loghub); see LOGHUB.md"
SERVICES = [  # service, system, resource type, log id
    (SPARK.service, "Spark", SPARK.resource_type, SPARK.log_id),
    (BASTION.service, "OpenSSH", BASTION.resource_type, BASTION.log_id),
    ("compute-api", "OpenStack", "cloud_run_revision", "run.googleapis.com/stdout"),
    (HADOOP.service, "Hadoop", HADOOP.resource_type, HADOOP.log_id),
    (ZOOKEEPER.service, "Zookeeper", ZOOKEEPER.resource_type, ZOOKEEPER.log_id),
    (HDFS.service, "HDFS", HDFS.resource_type, HDFS.log_id),
]


@dataclass(frozen=True, slots=True)
class Sample:
    """The sample as bytes (JSON lines) and its ground truth."""

    jsonl: bytes
    truth: dict[str, Any]

    def gzipped(self) -> bytes:
        return gzip.compress(self.jsonl, compresslevel=9, mtime=0)

    def truth_json(self) -> bytes:
        return (json.dumps(self.truth, indent=2, ensure_ascii=False) + "\n").encode()


def build_sample(loghub: Path, seed: int = SEED) -> Sample:
    """Tells every service's story, sorts by time, then breaks and redelivers a few lines.

    Raises FileNotFoundError when a Loghub sample is missing under `loghub`.
    """
    emitter = Emitter(seed)
    incidents: list[Incident] = [
        spark_story(emitter, read_system(loghub, "Spark"), seed),
        bastion_story(emitter, read_system(loghub, "OpenSSH"), seed),
        compute_api_story(emitter, read_system(loghub, "OpenStack"), seed),
        hadoop_story(emitter, read_system(loghub, "Hadoop"), seed),
        zookeeper_story(emitter, read_system(loghub, "Zookeeper"), seed),
    ]
    hdfs_story(emitter, read_system(loghub, "HDFS"), seed)
    faults = apply_faults(emitter.sorted_records(), Random(f"{seed}:faults"))
    truth = {
        "project": PROJECT,
        "source": SOURCE,
        "seed": seed,
        "start": rfc3339(START_NS, 0),
        "end": rfc3339(END_NS, 0),
        "entries": len(faults.lines),
        "malformed": sum(faults.malformed.values()),
        "malformed_kinds": dict(sorted(faults.malformed.items())),
        "duplicates": faults.duplicates,
        "services": [
            {
                "service": service,
                "system": system,
                "resource_type": resource_type,
                "log_name": log_name(log_id),
                "entries": emitter.per_service[service],
            }
            for service, system, resource_type, log_id in SERVICES
        ],
        "deploys": [deploy_record()],
        "incidents": [i.to_json() for i in sorted(incidents, key=lambda i: i.start)],
    }
    return Sample(b"".join(line + b"\n" for line in faults.lines), truth)


def write_sample(sample: Sample, out: Path) -> tuple[Path, Path]:
    """Writes `sample.jsonl.gz` and `truth.json` into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    data, truth = out / sample_path().name, out / truth_path().name
    data.write_bytes(sample.gzipped())
    truth.write_bytes(sample.truth_json())
    return data, truth


def main(argv: list[str] | None = None) -> int:
    parser = builder_arguments("python -m workers.sample.build", __doc__)
    parser.add_argument(
        "--out",
        type=Path,
        default=sample_path().parent,
        help="where to write sample.jsonl.gz and truth.json",
    )
    args = parser.parse_args(argv)
    try:
        sample = build_sample(args.loghub)
    except FileNotFoundError as exc:
        print(f"error: Loghub sample not found: {exc.filename}", file=sys.stderr)
        return 2
    data, truth = write_sample(sample, args.out)
    t = sample.truth
    print(
        f"wrote {data} ({data.stat().st_size:,} bytes, {t['entries']:,} lines: "
        f"{t['malformed']} malformed, {t['duplicates']} duplicates) and {truth}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
