"""The Google Cloud clients Logwarden uses, and what a refusal from them means to a user.

Cloud Logging (entries and sinks) through google-cloud-logging's GAPIC clients, Pub/Sub
admin through google-cloud-pubsub. `gcp.logging_endpoint` points the Logging clients at
a local stand-in (insecure, no credentials); PUBSUB_EMULATOR_HOST does the same for
Pub/Sub, as the Pub/Sub client itself reads it.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.api_core import exceptions as gexc
from google.auth.exceptions import DefaultCredentialsError
from google.cloud.logging_v2.services.config_service_v2 import ConfigServiceV2Client
from google.cloud.logging_v2.services.config_service_v2.transports import (
    ConfigServiceV2GrpcTransport,
)
from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client
from google.cloud.logging_v2.services.logging_service_v2.transports import (
    LoggingServiceV2GrpcTransport,
)

from workers.clierrors import CliError
from workers.settings import Settings

NO_CREDENTIALS = (
    "no Google credentials: run `gcloud auth application-default login`, "
    "or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file"
)
# The predefined role that grants each kind of call (least privilege that suffices).
ROLES = {
    "topic": "roles/pubsub.editor (Pub/Sub Editor)",
    "subscription": "roles/pubsub.editor (Pub/Sub Editor)",
    "iam": "roles/pubsub.admin (Pub/Sub Admin), to change who may publish to the topic",
    "sink": "roles/logging.configWriter (Logs Configuration Writer)",
    "read": "roles/logging.viewer (Logs Viewer; roles/logging.privateLogViewer for "
    "data-access audit logs)",
}


def config_client(settings: Settings) -> ConfigServiceV2Client:
    endpoint = settings.gcp.logging_endpoint
    if endpoint:
        channel = grpc.insecure_channel(endpoint)
        return ConfigServiceV2Client(transport=ConfigServiceV2GrpcTransport(channel=channel))
    return _with_credentials(ConfigServiceV2Client)


def logging_client(settings: Settings) -> LoggingServiceV2Client:
    endpoint = settings.gcp.logging_endpoint
    if endpoint:
        channel = grpc.insecure_channel(endpoint)
        return LoggingServiceV2Client(transport=LoggingServiceV2GrpcTransport(channel=channel))
    return _with_credentials(LoggingServiceV2Client)


def pubsub_clients() -> tuple[Any, Any]:
    import google.cloud.pubsub_v1 as pubsub_v1

    return (
        _with_credentials(pubsub_v1.PublisherClient),
        _with_credentials(pubsub_v1.SubscriberClient),
    )


def _with_credentials(factory: Any) -> Any:
    try:
        return factory()
    except DefaultCredentialsError:
        raise CliError(NO_CREDENTIALS, 2) from None


def refused(error: gexc.GoogleAPICallError, doing: str, kind: str) -> CliError:
    """The sentence for a refused call: what was being done, and the role it needs."""
    if isinstance(error, gexc.PermissionDenied | gexc.Forbidden):
        return CliError(f"{doing} was refused: the account needs {ROLES[kind]}", 1)
    if isinstance(error, gexc.Unauthenticated):
        return CliError(f"{doing} failed: {NO_CREDENTIALS}", 1)
    reason = (error.message or str(error)).splitlines()[0]
    return CliError(f"{doing} failed: {reason}", 1)
