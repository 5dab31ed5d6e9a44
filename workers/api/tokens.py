"""Bearer tokens of the HTTP API, each limited to some Google Cloud projects.

Only SHA-256 digests are kept: a configured plain token is hashed at start-up. A
presented token is hashed and compared with every digest in constant time, without
stopping at a match, so neither timing tells how much of a token was right.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from workers.api.errors import REALM, ApiError
from workers.settings import ApiTokenSettings

EVERY_PROJECT = "*"


@dataclass(frozen=True, slots=True)
class Grant:
    """What the caller's token allows."""

    name: str  # the token's configured name, for audit lines; never the token
    projects: frozenset[str] | None  # None: every project
    can_write: bool


def digest_of(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> tuple[str, str]:
    """A random token and its SHA-256 in hex, for `token_sha256` in the settings."""
    token = secrets.token_urlsafe(32)
    return token, digest_of(token).hex()


class TokenTable:
    def __init__(self, grants: Iterable[tuple[bytes, Grant]]) -> None:
        self._grants = list(grants)

    @classmethod
    def from_settings(cls, tokens: Iterable[ApiTokenSettings]) -> TokenTable:
        return cls((_digest(t), _grant(t)) for t in tokens)

    def __bool__(self) -> bool:
        return bool(self._grants)

    def grant_for(self, authorization: str) -> Grant:
        """The grant of the `Authorization` header's bearer token; ApiError 401 when there
        is none or it is not ours."""
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "This endpoint needs a token: send the header "
                                "'Authorization: Bearer <token>'.", {"WWW-Authenticate": REALM})
        presented = digest_of(token)
        found = None
        for digest, grant in self._grants:
            if hmac.compare_digest(digest, presented):
                found = grant
        if found is None:
            raise ApiError(401, "The bearer token is not one this server knows.",
                           {"WWW-Authenticate": f'{REALM}, error="invalid_token"'})
        return found


def _digest(token: ApiTokenSettings) -> bytes:
    if token.token is not None:
        return digest_of(token.token.get_secret_value())
    assert token.token_sha256 is not None  # the settings insist on one of the two
    return bytes.fromhex(token.token_sha256)


def _grant(token: ApiTokenSettings) -> Grant:
    projects = None if EVERY_PROJECT in token.projects else frozenset(token.projects)
    return Grant(token.name, projects, token.access == "write")
