"""`logwarden setup`: the Pub/Sub topic and subscription and the Cloud Logging sink that
feed Logwarden, created when missing and left alone when present (safe to run again).

Each step first reads what is there; only what is missing (or a sink whose filter or
destination changed) is written. `gcloud_commands` says the same plan as gcloud commands.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.logging_v2.types import LogSink
from google.protobuf import duration_pb2, field_mask_pb2

from workers.gcp_clients import config_client, pubsub_clients, refused
from workers.settings import Settings

PUBLISHER_ROLE = "roles/pubsub.publisher"
DEFAULT_FILTER = 'severity>=DEFAULT AND NOT logName:"cloudaudit.googleapis.com"'


@dataclass(frozen=True)
class SetupPlan:
    """What `setup` makes. The subscription waits 60 s for an ack (ingest acks once a batch
    is handed over), keeps unacked messages 7 days, and moves a message that failed 10
    deliveries to the dead-letter topic, whose own subscription keeps it for a look."""

    project: str
    name: str = "logwarden"  # of the topic, subscription and sink
    filter: str = DEFAULT_FILTER
    ack_deadline_s: int = 60
    retention_days: int = 7
    max_delivery_attempts: int = 10

    @property
    def topic(self) -> str:
        return f"projects/{self.project}/topics/{self.name}"

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.topic}-dead-letter"

    @property
    def subscription(self) -> str:
        return f"projects/{self.project}/subscriptions/{self.name}"

    @property
    def dead_letter_subscription(self) -> str:
        return f"{self.subscription}-dead-letter"

    @property
    def sink(self) -> str:
        return f"projects/{self.project}/sinks/{self.name}"

    @property
    def destination(self) -> str:
        return f"pubsub.googleapis.com/{self.topic}"


@dataclass(frozen=True)
class StepResult:
    what: str  # e.g. "topic projects/p/topics/logwarden"
    outcome: str  # "created", "updated", "granted" or "exists"

    @property
    def changed(self) -> bool:
        return self.outcome != "exists"


def run_setup(plan: SetupPlan, settings: Settings) -> list[StepResult]:
    """Brings the project to `plan`; raises CliError naming the role a refusal needs."""
    publisher, subscriber = pubsub_clients()
    config = config_client(settings)
    results = [
        _topic(publisher, plan.topic),
        _topic(publisher, plan.dead_letter_topic),
        _subscription(subscriber, _dead_letter_subscription(plan)),
        _subscription(subscriber, _main_subscription(plan)),
    ]
    sink_result, writer = _sink(config, plan)
    results += [sink_result, _grant(publisher, plan.topic, writer)]
    return results


def _call(doing: str, kind: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except gexc.NotFound:
        raise
    except gexc.GoogleAPICallError as error:
        raise refused(error, doing, kind) from None


def _exists(doing: str, kind: str, call: Callable[[], Any]) -> Any | None:
    try:
        return _call(doing, kind, call)
    except gexc.NotFound:
        return None


def _topic(publisher: Any, name: str) -> StepResult:
    what = f"topic {name}"
    if _exists(f"reading {what}", "topic", lambda: publisher.get_topic(topic=name)):
        return StepResult(what, "exists")
    _call(f"creating {what}", "topic", lambda: publisher.create_topic(name=name))
    return StepResult(what, "created")


def _main_subscription(plan: SetupPlan) -> dict[str, Any]:
    return {
        "name": plan.subscription,
        "topic": plan.topic,
        "ack_deadline_seconds": plan.ack_deadline_s,
        "message_retention_duration": _days(plan.retention_days),
        "expiration_policy": {},  # never expires, however long ingest is stopped
        "dead_letter_policy": {
            "dead_letter_topic": plan.dead_letter_topic,
            "max_delivery_attempts": plan.max_delivery_attempts,
        },
        "retry_policy": {
            "minimum_backoff": duration_pb2.Duration(seconds=10),
            "maximum_backoff": duration_pb2.Duration(seconds=600),
        },
    }


def _dead_letter_subscription(plan: SetupPlan) -> dict[str, Any]:
    return {
        "name": plan.dead_letter_subscription,
        "topic": plan.dead_letter_topic,
        "message_retention_duration": _days(plan.retention_days),
        "expiration_policy": {},
    }


def _days(days: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=days * 86400)


def _subscription(subscriber: Any, config: dict[str, Any]) -> StepResult:
    what = f"subscription {config['name']}"
    get = lambda: subscriber.get_subscription(subscription=config["name"])  # noqa: E731
    if _exists(f"reading {what}", "subscription", get):
        return StepResult(what, "exists")
    _call(f"creating {what}", "subscription", lambda: subscriber.create_subscription(config))
    return StepResult(what, "created")


def _sink(config: Any, plan: SetupPlan) -> tuple[StepResult, str]:
    what = f"sink {plan.sink}"
    found = _exists(f"reading {what}", "sink", lambda: config.get_sink(sink_name=plan.sink))
    if found is not None and found.destination == plan.destination and found.filter == plan.filter:
        return StepResult(what, "exists"), found.writer_identity
    sink = LogSink(name=plan.name, destination=plan.destination, filter=plan.filter)
    if found is None:
        request = {"parent": f"projects/{plan.project}", "sink": sink,
                   "unique_writer_identity": True}  # fmt: skip
        made = _call(f"creating {what}", "sink", lambda: config.create_sink(request=request))
        return StepResult(what, "created"), made.writer_identity
    mask = field_mask_pb2.FieldMask(paths=["destination", "filter"])
    request = {"sink_name": plan.sink, "sink": sink, "update_mask": mask,
               "unique_writer_identity": True}  # fmt: skip
    made = _call(f"updating {what}", "sink", lambda: config.update_sink(request=request))
    return StepResult(what, "updated"), made.writer_identity


def _grant(publisher: Any, topic: str, member: str) -> StepResult:
    what = f"{PUBLISHER_ROLE} for {member} on {topic}"
    policy = _call(
        f"reading who may publish to {topic}", "iam",
        lambda: publisher.get_iam_policy(request={"resource": topic}),
    )  # fmt: skip
    for binding in policy.bindings:
        if binding.role == PUBLISHER_ROLE and member in binding.members:
            return StepResult(what, "exists")
    binding = next((b for b in policy.bindings if b.role == PUBLISHER_ROLE), None)
    if binding is None:
        binding = policy.bindings.add(role=PUBLISHER_ROLE)
    binding.members.append(member)
    _call(
        f"letting the sink publish to {topic}", "iam",
        lambda: publisher.set_iam_policy(request={"resource": topic, "policy": policy}),
    )  # fmt: skip
    return StepResult(what, "granted")


def gcloud_commands(plan: SetupPlan) -> list[str]:
    """The same setup as gcloud commands (what `--dry-run` prints)."""
    p, q = f"--project={plan.project}", shlex.quote
    name, dl = plan.name, f"{plan.name}-dead-letter"
    retention = f"--message-retention-duration={plan.retention_days}d"
    writer = f"$(gcloud logging sinks describe {name} {p} --format='value(writerIdentity)')"
    return [
        f"gcloud pubsub topics create {name} {p}",
        f"gcloud pubsub topics create {dl} {p}",
        f"gcloud pubsub subscriptions create {dl} --topic={dl} {retention} "
        f"--expiration-period=never {p}",
        f"gcloud pubsub subscriptions create {name} --topic={name} "
        f"--ack-deadline={plan.ack_deadline_s} {retention} --expiration-period=never "
        f"--dead-letter-topic={dl} --max-delivery-attempts={plan.max_delivery_attempts} "
        f"--min-retry-delay=10s --max-retry-delay=600s {p}",
        f"gcloud logging sinks create {name} {plan.destination} --log-filter={q(plan.filter)} {p}",
        f'gcloud pubsub topics add-iam-policy-binding {name} --member="{writer}" '
        f"--role={PUBLISHER_ROLE} {p}",
    ]


def dead_letter_note(plan: SetupPlan) -> str:
    """Dead lettering also needs Pub/Sub's own service agent, known by the project number."""
    agent = "serviceAccount:service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com"
    dl, p = f"{plan.name}-dead-letter", f"--project={plan.project}"
    return (
        "# to move undeliverable messages to the dead-letter topic, Pub/Sub's service agent\n"
        "# needs these two grants (PROJECT_NUMBER: gcloud projects describe "
        f"{plan.project} --format='value(projectNumber)'):\n"
        f"gcloud pubsub topics add-iam-policy-binding {dl} --member={agent} "
        f"--role={PUBLISHER_ROLE} {p}\n"
        f"gcloud pubsub subscriptions add-iam-policy-binding {plan.name} --member={agent} "
        f"--role=roles/pubsub.subscriber {p}"
    )
