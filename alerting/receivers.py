"""Receivers: named, configured channel instances (`slack:oncall`, `email:sre`,
`webhook:pager`, `alertmanager:main`), their config models, and the one builder.

A receiver's id is `<kind>:<name>`; routes name receivers by it. Metrics label
deliveries by the receiver's kind only (`receiver_kind`), so labels stay bounded whatever
the names and URLs. Secrets are `SecretStr`: they print masked, and `secrets()` lists
their values so logs can redact them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from alerting.notifier import Notifier
from alerting.secret_refs import Secret
from alerting.slack_blocks import SLACK_API_URL

KINDS = ("slack", "email", "webhook", "alertmanager", "console", "file")
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class SmtpServer(BaseModel):
    """The mail relay an email receiver sends through."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    sender: str = "logwarden@localhost"
    username: str | None = None
    password: Secret | None = None
    starttls: bool = False
    ssl: bool = False


class _Receiver(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    name: str = Field(pattern=_NAME)
    timeout_s: float = Field(10.0, gt=0, le=60)

    @property
    def id(self) -> str:
        """`<kind>:<name>`, as routes and the outbox name the receiver."""
        return f"{self.kind}:{self.name}"

    def secrets(self) -> list[str]:
        """Every secret value of this receiver, for log redaction."""
        values = [getattr(self, field) for field in type(self).model_fields]
        found = [v.get_secret_value() for v in values if isinstance(v, SecretStr)]
        smtp = getattr(self, "smtp", None)
        if isinstance(smtp, SmtpServer) and smtp.password is not None:
            found.append(smtp.password.get_secret_value())
        return [secret for secret in found if secret]


class SlackReceiver(_Receiver):
    """An incoming webhook, or a bot token and a channel (threads and edits in place)."""

    kind: Literal["slack"] = "slack"
    webhook_url: Secret | None = None
    bot_token: Secret | None = None
    channel: str | None = None  # a channel id (C0123...) or #name, for the bot token
    api_url: str = SLACK_API_URL

    @model_validator(mode="after")
    def _one_way_in(self) -> SlackReceiver:
        if (self.webhook_url is None) == (self.bot_token is None):
            raise ValueError("a slack receiver needs webhook_url or bot_token, not both")
        if self.bot_token is not None and not self.channel:
            raise ValueError("a slack receiver with a bot_token needs a channel")
        return self


class EmailReceiver(_Receiver):
    kind: Literal["email"] = "email"
    to: list[str] = Field(min_length=1)
    smtp: SmtpServer | None = None  # None: the settings' own SMTP server


class WebhookReceiver(_Receiver):
    kind: Literal["webhook"] = "webhook"
    url: Secret  # a URL may carry a token in its path or query
    bearer_token: Secret | None = None


class AlertmanagerReceiver(_Receiver):
    kind: Literal["alertmanager"] = "alertmanager"
    url: str  # the base URL, e.g. http://alertmanager:9093
    bearer_token: Secret | None = None
    # How long a firing alert lives without another post; keep it above the route's
    # repeat_interval, which re-posts it.
    firing_ttl_s: float = Field(24 * 3600.0, ge=300)


ReceiverConfig = Annotated[
    SlackReceiver | EmailReceiver | WebhookReceiver | AlertmanagerReceiver,
    Field(discriminator="kind"),
]


def build_receiver(config: ReceiverConfig, *, smtp: SmtpServer | None = None) -> Notifier:
    """The notifier a receiver config describes, named by its id. `smtp` is the relay
    for an email receiver that names none."""
    # Each notifier's module (smtplib, HTTP posting) is imported by the runs that use it.
    if isinstance(config, SlackReceiver):
        return _slack(config)
    if isinstance(config, EmailReceiver):
        return _email(config, config.smtp or smtp or SmtpServer())
    if isinstance(config, WebhookReceiver):
        from alerting.webhook import WebhookNotifier

        return WebhookNotifier(config.url.get_secret_value(), _secret(config.bearer_token),
                               config.timeout_s, name=config.id)
    from alerting.alertmanager import AlertmanagerNotifier

    return AlertmanagerNotifier(config.url, config.timeout_s,
                                secret=_secret(config.bearer_token),
                                firing_ttl=timedelta(seconds=config.firing_ttl_s),
                                name=config.id)


def receiver_kind(receiver_id: str) -> str:
    """The kind of a receiver id (`slack:oncall` → `slack`; a bare channel name is its own
    kind): the only receiver label metrics carry."""
    kind = receiver_id.partition(":")[0]
    return kind if kind in KINDS else "other"


def _slack(config: SlackReceiver) -> Notifier:
    # slack_sdk is imported by the runs that send to Slack only.
    from alerting.slack import SlackNotifier
    from alerting.slack_bot import SlackBotNotifier

    if config.bot_token is not None:
        assert config.channel is not None  # checked by the model
        return SlackBotNotifier(config.bot_token.get_secret_value(), config.channel,
                                config.timeout_s, base_url=config.api_url, name=config.id)
    assert config.webhook_url is not None  # checked by the model
    return SlackNotifier(config.webhook_url.get_secret_value(), config.timeout_s,
                         name=config.id)


def _email(config: EmailReceiver, server: SmtpServer) -> Notifier:
    from alerting.email import EmailNotifier

    return EmailNotifier(server.host, server.port, server.sender, config.to,
                         username=server.username, password=_secret(server.password),
                         starttls=server.starttls, ssl=server.ssl, timeout_s=config.timeout_s,
                         name=config.id)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
