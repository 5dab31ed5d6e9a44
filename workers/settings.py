"""One typed settings object: environment (LOGWARDEN_*) over an optional TOML/YAML file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from alerting.receivers import ReceiverConfig, SmtpServer
from alerting.routes import RouteTree
from observability.logging import mask_url
from pipeline.batch import BatchLimits
from pipeline.incidents import IncidentPolicy
from workers.llm_settings import LlmSettings
from workers.route_settings import (
    DefaultRouteSettings,
    IncidentSettings,
    LinkSettings,
    RouteSettings,
    incident_policy,
    route_tree,
)


class BatchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_entries: int = Field(500, ge=1)
    max_span_s: float = Field(60.0, gt=0)
    max_bytes: int = Field(1_000_000, ge=1024)
    max_wait_s: float = Field(5.0, gt=0)

    def limits(self) -> BatchLimits:
        return BatchLimits(**self.model_dump())


class SmtpSettings(SmtpServer):
    """The SMTP relay, and the recipients of the `email` channel; email receivers that
    name no relay of their own send through it too."""

    recipients: list[str] = []


class NotifySettings(BaseModel):
    """Sending alerts. A channel gives up a network step after `timeout_s`; a claimed
    message whose sender died is sent again after `lease_s` (a live sender renews it)."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(10.0, gt=0, le=60)
    lease_s: float = Field(60.0, ge=5, le=3600)

    @model_validator(mode="after")
    def _lease_outlives_a_step(self) -> NotifySettings:
        if self.lease_s <= 2 * self.timeout_s:
            raise ValueError("notify.lease_s must be more than twice notify.timeout_s")
        return self


class GcpSettings(BaseModel):
    """Google Cloud: the project `setup`, `backfill` and `tail` work on by default."""

    model_config = ConfigDict(extra="forbid")

    project: str | None = None
    logging_endpoint: str | None = None  # host:port of a local Cloud Logging stand-in


class ApiTokenSettings(BaseModel):
    """One bearer token of the HTTP API: the GCP projects it may see, and whether it may
    change anything (acknowledge, resolve, feedback, silences) or only read.

    Give the token itself (`token`, a secret) or only its SHA-256 (`token_sha256`, hex),
    so the config file need not hold it: `logwarden api-token` makes a pair.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)  # in logs and audit trails; never the token
    token: SecretStr | None = None
    token_sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")
    projects: list[str] = Field(min_length=1)  # "*" for every project
    access: Literal["read", "write"] = "read"

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("an API token must be at least 16 characters; "
                             "`logwarden api-token` makes a random one")
        return value

    @field_validator("projects")
    @classmethod
    def _project_ids(cls, value: list[str]) -> list[str]:
        for project in value:
            if not project or "/" in project or project != project.strip():
                raise ValueError(f"{project!r} is not a project id (nor \"*\" for every one)")
        return value

    @model_validator(mode="after")
    def _one_way_to_match(self) -> ApiTokenSettings:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError(f"API token {self.name!r} needs exactly one of token "
                             "and token_sha256")
        return self


class ApiSettings(BaseModel):
    """The HTTP API under /api/v1: off until at least one token is configured."""

    model_config = ConfigDict(extra="forbid")

    tokens: list[ApiTokenSettings] = []

    @field_validator("tokens")
    @classmethod
    def _distinct_names(cls, value: list[ApiTokenSettings]) -> list[ApiTokenSettings]:
        names = [t.name for t in value]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"API token names must differ; {', '.join(doubled)} is used twice")
        return value


class Settings(BaseSettings):
    """Built once by the composition root; nothing reads the environment elsewhere."""

    model_config = SettingsConfigDict(
        env_prefix="LOGWARDEN_", env_nested_delimiter="__", extra="forbid"
    )

    database_url: str = "sqlite:///logwarden.db"
    redis_url: str = "redis://127.0.0.1:6379/0"  # detector state, template sync
    redis_prefix: str = "logwarden:"  # of every state key, so deployments can share a db
    broker_url: str | None = None  # Celery broker; defaults to redis_url
    broker_prefix: str = ""  # of the broker's keys (queues too), for a shared Redis db
    # A task a worker took is handed to another after this long without its ack (that is
    # how the batches of a worker that died come back): longer than any batch may run.
    broker_visibility_timeout_s: float = Field(600.0, ge=1)
    rules_file: Path | None = None
    sensitivity: float = Field(1.0, gt=0, le=5)
    # Per stream, by service name or full key ("project/resource_type/service").
    stream_sensitivity: dict[str, Annotated[float, Field(gt=0, le=5)]] = {}
    alert_window_s: float = Field(3600.0, gt=0)
    channels: list[str] = ["console", "file"]  # the default route's receivers, unless it names some
    route: DefaultRouteSettings = DefaultRouteSettings()
    routes: list[RouteSettings] = []
    incidents: IncidentSettings = IncidentSettings()
    links: LinkSettings = LinkSettings()
    alerts_file: Path = Path("logwarden-alerts.jsonl")
    slack_webhook_url: SecretStr | None = None
    # Named receivers (`<kind>:<name>`), beside the `channels` above; routes name them.
    receivers: list[ReceiverConfig] = []
    smtp: SmtpSettings = SmtpSettings()
    notify: NotifySettings = NotifySettings()
    llm: LlmSettings = LlmSettings()  # LLM escalation: off without a key
    # POST /pubsub/push takes a request with the shared token (?token= or a bearer), or
    # with a Google OIDC token for this audience (and, if set, this service account).
    push_token: SecretStr | None = None
    push_audience: str | None = None
    push_service_account: str | None = None
    push_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    # Pub/Sub's copy is settled (acked; a push answered 2xx) only once its batch is
    # recorded. Past this long unrecorded, ingest nacks it for redelivery; keep it longer
    # than a busy queue takes to drain.
    ingest_record_timeout_s: float = Field(120.0, gt=0)
    # Pull: how many messages ingest holds leased and not yet acked (Pub/Sub's flow
    # control). Each is held from its arrival until its batch is recorded (the batch's
    # wait, the queue, detection, the half-second settle check): one ingest process takes
    # at most this many over that time a second.
    ingest_max_outstanding: int = Field(20_000, gt=0)
    # Push: a request is held until its batch is recorded, then answered 204, or 503
    # after this long. Keep it below the push subscription's ack deadline (up to 600 s).
    push_record_timeout_s: float = Field(50.0, gt=0, le=600)
    # The ledger and entry outcomes (how duplicates are recognised and `audit` adds up)
    # are pruned past this age by beat (an embedded run: at its start, then hourly): keep
    # it past the subscription's message retention.
    accounting_retention_days: float = Field(8.0, ge=1)
    batch: BatchSettings = BatchSettings()
    api: ApiSettings = ApiSettings()
    gcp: GcpSettings = GcpSettings()
    max_entry_bytes: int = Field(262_144, ge=1024)
    template_capacity: int = Field(20_000, ge=100)
    log_level: str = "INFO"
    log_json: bool = True
    # The Google Cloud project of the traces: log lines then link to them in Cloud Logging.
    trace_project: str | None = None
    metrics_port: int | None = None
    trace_exporter: str = "none"  # none, console, file:PATH, otlp, otlp:URL

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("LOGWARDEN_CONFIG_FILE")
        if config_file:
            sources.append(_file_source(settings_cls, Path(config_file)))
        return (*sources, file_secret_settings)

    @field_validator("database_url")
    @classmethod
    def _a_database_url(cls, value: str) -> str:
        try:
            backend = make_url(value).get_backend_name()
        except (ArgumentError, ValueError):
            backend = None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError("a database URL Logwarden can use, e.g. "
                             "sqlite:///logwarden.db or postgresql+psycopg://user@host/db")
        return value

    def route_tree(self) -> RouteTree:
        return route_tree(self.route, self.routes, self.channels)

    def incident_policy(self) -> IncidentPolicy:
        return incident_policy(self.incidents, self.route_tree())

    def secrets(self) -> list[str]:
        """Every secret value, so logs can redact them: the channel, receiver, push, API and
        LLM secrets and any password in the database, Redis or broker URL."""
        values = [self.slack_webhook_url, self.smtp.password, self.push_token, self.llm.api_key,
                  *(t.token for t in self.api.tokens)]
        found = [v.get_secret_value() for v in values if v is not None]
        found += [secret for receiver in self.receivers for secret in receiver.secrets()]
        for url in (self.database_url, self.redis_url, self.broker_url or ""):
            password = urlsplit(url).password
            if password:
                found += [password, unquote(password)]
        return found

    def masked(self) -> dict[str, Any]:
        """The settings as JSON values, fit to print: secrets and URL passwords masked."""
        shown = self.model_dump(mode="json")  # SecretStr dumps as '**********'
        for name in ("database_url", "redis_url", "broker_url"):
            if shown[name]:
                shown[name] = mask_url(shown[name])
        return shown


def _file_source(settings_cls: type[BaseSettings], path: Path) -> PydanticBaseSettingsSource:
    if not path.is_file():
        raise FileNotFoundError(f"LOGWARDEN_CONFIG_FILE points to {path}, which does not exist")
    if path.suffix == ".toml":
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    if path.suffix in (".yaml", ".yml"):
        return YamlConfigSettingsSource(settings_cls, yaml_file=path)
    raise ValueError(f"config file {path} must be .toml, .yaml or .yml")
