"""Who may push: the shared `?token=` secret, or a Google-signed OIDC token.

A push subscription with authentication sends `Authorization: Bearer <JWT>`, signed by
Google for the subscription's service account and the audience it names. We check the
signature against Google's published certificates (fetched over HTTPS, kept a few
minutes), the audience, the issuer, and, when configured, the service account.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.auth import exceptions as auth_errors
from google.auth import transport
from google.auth.transport.requests import Request as HttpRequest
from google.oauth2 import id_token

log = logging.getLogger(__name__)

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})


class CachedGet(transport.Request):
    """A google-auth transport that keeps GET answers for `max_age_s`: one certificate
    fetch every few minutes instead of one per pushed message."""

    def __init__(self, inner: transport.Request | None = None, max_age_s: float = 300.0):
        self._inner = inner or HttpRequest()
        self._max_age_s = max_age_s
        self._cache: dict[str, tuple[float, transport.Response]] = {}
        self._lock = threading.Lock()

    def __call__(
        self, url: str, method: str = "GET", body: Any = None, headers: Any = None,
        timeout: Any = 10, **kwargs: Any,
    ) -> transport.Response:
        if method != "GET":
            return self._inner(url, method, body, headers, timeout, **kwargs)
        with self._lock:
            kept = self._cache.get(url)
            if kept is not None and time.monotonic() - kept[0] < self._max_age_s:
                return kept[1]
        response = self._inner(url, method, body, headers, timeout, **kwargs)
        if response.status == 200:
            with self._lock:
                self._cache[url] = (time.monotonic(), response)
        return response


@dataclass(frozen=True)
class OidcPolicy:
    audience: str
    service_account: str | None = None  # the token's `email`; any Google account if None
    certs_url: str = GOOGLE_CERTS_URL
    clock_skew_s: int = 30


class PushAuth:
    """Decides whether a push request comes from our subscription."""

    def __init__(self, token: str | None = None, oidc: OidcPolicy | None = None,
                 http: transport.Request | None = None) -> None:
        if not token and oidc is None:
            raise ValueError("push authentication needs a shared token or an OIDC audience")
        self._token = token.encode() if token else None
        self._oidc = oidc
        self._http = CachedGet(http) if oidc is not None else None

    def allows(self, query_token: str, authorization: str) -> bool:
        """Blocking (a certificate fetch may happen): call it off the event loop."""
        bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        if self._matches_token(query_token) or self._matches_token(bearer):
            return True
        return bool(bearer) and self._oidc is not None and self._valid_oidc(bearer)

    def _matches_token(self, given: str) -> bool:
        return bool(given) and self._token is not None and hmac.compare_digest(
            given.encode(), self._token
        )

    def _valid_oidc(self, jwt: str) -> bool:
        assert self._oidc is not None and self._http is not None
        policy = self._oidc
        try:
            claims = id_token.verify_token(
                jwt, self._http, audience=policy.audience, certs_url=policy.certs_url,
                clock_skew_in_seconds=policy.clock_skew_s,
            )
        except (ValueError, auth_errors.GoogleAuthError) as exc:
            log.warning("push OIDC token refused: %s", _reason(exc))
            return False
        problem = _claims_problem(claims, policy)
        if problem:
            log.warning("push OIDC token refused: %s", problem)
        return problem is None


def _claims_problem(claims: Mapping[str, Any], policy: OidcPolicy) -> str | None:
    if claims.get("iss") not in GOOGLE_ISSUERS:
        return "not issued by Google"
    if policy.service_account is None:
        return None
    if claims.get("email") != policy.service_account or claims.get("email_verified") is not True:
        return "signed for another service account"
    return None


def _reason(exc: Exception) -> str:
    """The library's message names the failed check, never the token itself."""
    return str(exc).split("\n", 1)[0][:200]
