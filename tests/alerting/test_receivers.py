"""Receiver config: the models, the builder, the settings file, secrets kept out of
print and logs, and metrics labelled by the receiver's kind only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from alerting.alertmanager import AlertmanagerNotifier
from alerting.email import EmailNotifier
from alerting.receivers import ReceiverConfig, receiver_kind
from alerting.slack import SlackNotifier
from alerting.slack_bot import SlackBotNotifier
from alerting.webhook import WebhookNotifier
from workers.clierrors import ConfigError
from workers.runtime import build_notifiers
from workers.settings import Settings

BOT = "xoxb-config-secret-1"
HOOK = "https://hooks.slack.test/services/T1/B2/hooksecret"
AUTH = "bearer-secret-2"
SMTP = "smtp-secret-3"
CONFIG = f"""
channels = ["console"]

[smtp]
host = "mail.acme.test"
sender = "logwarden@acme.test"

[[receivers]]
kind = "slack"
name = "oncall"
bot_token = "{BOT}"
channel = "C0123"

[[receivers]]
kind = "slack"
name = "fallback"
webhook_url = "{HOOK}"

[[receivers]]
kind = "email"
name = "sre"
to = ["sre@acme.test"]
[receivers.smtp]
host = "relay.acme.test"
port = 587
starttls = true
username = "lw"
password = "{SMTP}"

[[receivers]]
kind = "email"
name = "dev"
to = ["dev@acme.test"]

[[receivers]]
kind = "webhook"
name = "pager"
url = "https://pager.acme.test/hook"
bearer_token = "{AUTH}"

[[receivers]]
kind = "alertmanager"
name = "main"
url = "http://alertmanager:9093"
"""


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    path = tmp_path / "logwarden.toml"
    path.write_text(CONFIG)
    monkeypatch.setenv("LOGWARDEN_CONFIG_FILE", str(path))
    return Settings()


def test_the_settings_file_builds_every_receiver_beside_the_old_channels(
    settings: Settings,
) -> None:
    notifiers = build_notifiers(settings)
    assert list(notifiers) == ["console", "slack:oncall", "slack:fallback", "email:sre",
                               "email:dev", "webhook:pager", "alertmanager:main"]
    kinds = {name: type(n) for name, n in notifiers.items()}
    assert kinds["slack:oncall"] is SlackBotNotifier and kinds["slack:fallback"] is SlackNotifier
    assert kinds["webhook:pager"] is WebhookNotifier
    assert kinds["alertmanager:main"] is AlertmanagerNotifier
    sre, dev = notifiers["email:sre"], notifiers["email:dev"]
    assert isinstance(sre, EmailNotifier) and isinstance(dev, EmailNotifier)
    assert (sre.host, sre.port, sre.recipients) == ("relay.acme.test", 587, ("sre@acme.test",))
    assert (dev.host, dev.sender) == ("mail.acme.test", "logwarden@acme.test")  # the settings'
    assert all(n.name == name for name, n in notifiers.items())


def test_secrets_are_listed_for_redaction_and_masked_in_print(settings: Settings) -> None:
    assert {BOT, HOOK, AUTH, SMTP} <= set(settings.secrets())
    shown = json.dumps(settings.masked())
    assert not any(secret in shown for secret in (BOT, HOOK, AUTH, SMTP, "hooksecret"))


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ({"kind": "slack", "name": "x"}, "webhook_url or bot_token"),
        ({"kind": "slack", "name": "x", "bot_token": "t"}, "needs a channel"),
        ({"kind": "slack", "name": "x", "bot_token": "t", "webhook_url": "https://h/x",
          "channel": "C1"}, "not both"),
        ({"kind": "email", "name": "x", "to": []}, "at least 1"),
        ({"kind": "pager", "name": "x"}, "does not match any of the expected tags"),
        ({"kind": "webhook", "name": "has space", "url": "https://h/x"}, "pattern"),
        ({"kind": "alertmanager", "name": "x", "url": "http://am", "firing_ttl_s": 60},
         "greater than or equal to 300"),
    ],
)
def test_a_wrong_receiver_is_refused_with_the_reason(config: dict[str, object],
                                                     complaint: str) -> None:
    with pytest.raises(ValidationError) as error:
        TypeAdapter(ReceiverConfig).validate_python(config)
    assert complaint in str(error.value)


def test_a_receiver_configured_twice_is_a_clear_error() -> None:
    hook = {"kind": "webhook", "name": "pager", "url": "https://h.test/x"}
    settings = Settings(channels=[], receivers=[hook, hook])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="webhook:pager"):
        build_notifiers(settings)


def test_a_receiver_url_a_channel_cannot_use_is_a_config_error_without_the_url() -> None:
    settings = Settings(channels=[], receivers=[  # type: ignore[list-item]
        {"kind": "webhook", "name": "pager", "url": "ftp://h.test/secret-path"}])
    with pytest.raises(ConfigError) as error:
        build_notifiers(settings)
    assert "secret-path" not in str(error.value)


@pytest.mark.parametrize(
    ("receiver", "kind"),
    [("slack:oncall", "slack"), ("email:sre", "email"), ("alertmanager:main", "alertmanager"),
     ("webhook:https://x", "webhook"), ("console", "console"), ("file", "file"),
     ("slack", "slack"), ("memory", "other"), ("https://hooks/x", "other")],
)
def test_metrics_see_only_the_receiver_kind(receiver: str, kind: str) -> None:
    assert receiver_kind(receiver) == kind


def test_secrets_may_come_from_the_environment_or_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGER_TOKEN", "from-env-77")
    (tmp_path / "hook").write_text("https://hooks.slack.test/services/T/B/from-file-88\n")
    settings = Settings(channels=[], receivers=[  # type: ignore[list-item]
        {"kind": "webhook", "name": "pager", "url": "https://p.test/x",
         "bearer_token": "env:PAGER_TOKEN"},
        {"kind": "slack", "name": "hook", "webhook_url": f"file:{tmp_path / 'hook'}"}])
    assert {"from-env-77", "https://hooks.slack.test/services/T/B/from-file-88"} <= set(
        settings.secrets())
    assert isinstance(build_notifiers(settings)["slack:hook"], SlackNotifier)


@pytest.mark.parametrize(
    ("reference", "complaint"),
    [("env:NO_SUCH_VARIABLE_HERE", "environment variable NO_SUCH_VARIABLE_HERE is not set"),
     ("file:/no/such/secret", "cannot read the secret file /no/such/secret")],
)
def test_a_missing_secret_reference_is_named(reference: str, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        TypeAdapter(ReceiverConfig).validate_python(
            {"kind": "slack", "name": "x", "bot_token": reference, "channel": "C1"})


def test_the_readme_receivers_example_builds(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Where alerts go: receivers", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "hook").write_text("https://hooks.slack.test/services/T/B/x")
    example = example.replace("/run/secrets/slack-webhook", str(tmp_path / "hook"))
    (tmp_path / "logwarden.toml").write_text(example)
    for name in ("SMTP_PASSWORD", "SLACK_BOT_TOKEN", "PAGER_TOKEN"):
        monkeypatch.setenv(name, f"{name.lower()}-value")
    monkeypatch.setenv("LOGWARDEN_CONFIG_FILE", str(tmp_path / "logwarden.toml"))
    notifiers = build_notifiers(Settings(channels=[]))
    assert list(notifiers) == ["slack:oncall", "slack:fallback", "email:sre", "webhook:pager",
                               "alertmanager:main"]


def test_a_run_that_sends_nowhere_near_slack_never_imports_its_sdk() -> None:
    """slack_sdk is imported when a Slack channel is built, not by every run."""
    probe = ("import sys, workers.embedded, workers.runtime, alerting.receivers\n"
             "print('slack_sdk' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                         text=True).stdout
    assert out.strip() == "False"
