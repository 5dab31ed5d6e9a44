"""The HTTP API (/api/v1): anomalies, incidents, silences and feedback, per project."""

from workers.api.app import PREFIX, make_api_app
from workers.api.tokens import TokenTable, new_token

__all__ = ["PREFIX", "TokenTable", "make_api_app", "new_token"]
