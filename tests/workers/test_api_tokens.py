"""API tokens in the settings: one way to match each, projects that are project ids, the
plain ones redacted from logs; and the table that turns a bearer header into a grant."""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from workers.api.errors import ApiError
from workers.api.tokens import Grant, TokenTable
from workers.cli import main
from workers.settings import ApiTokenSettings, Settings

PLAIN = "plain-token-0123456789abcdef"
HASHED = "hashed-token-0123456789abcdef"
ENTRIES = [
    {"name": "a", "token": PLAIN, "projects": ["acme-a", "acme-c"]},
    {"name": "ops", "token_sha256": hashlib.sha256(HASHED.encode()).hexdigest(),
     "projects": ["*"], "access": "write"},
]


def test_tokens_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGWARDEN_API__TOKENS", json.dumps(ENTRIES))
    settings = Settings()
    assert [t.name for t in settings.api.tokens] == ["a", "ops"]
    assert PLAIN in settings.secrets()
    assert PLAIN not in json.dumps(settings.masked())


@pytest.mark.parametrize(("entry", "says"), [
    ({"name": "x", "projects": ["p"]}, "exactly one of token and token_sha256"),
    ({"name": "x", "token": PLAIN, "token_sha256": "0" * 64, "projects": ["p"]},
     "exactly one of token and token_sha256"),
    ({"name": "x", "token": "short", "projects": ["p"]}, "at least 16 characters"),
    ({"name": "x", "token": PLAIN, "projects": ["acme/prod"]}, "is not a project id"),
    ({"name": "x", "token": PLAIN, "projects": []}, "at least 1 item"),
    ({"name": "x", "token_sha256": "beef", "projects": ["p"]}, "should match pattern"),
    ({"name": "x", "token": PLAIN, "projects": ["p"], "access": "admin"}, "'read' or 'write'"),
])
def test_a_wrong_token_entry_says_what_is_wrong(entry: dict, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        ApiTokenSettings.model_validate(entry)


def test_two_tokens_of_one_name_are_refused() -> None:
    with pytest.raises(ValidationError, match="a is used twice"):
        Settings.model_validate({"api": {"tokens": [ENTRIES[0], ENTRIES[0]]}})


def table() -> TokenTable:
    return TokenTable.from_settings(ApiTokenSettings.model_validate(e) for e in ENTRIES)


def test_a_known_bearer_token_gets_its_grant() -> None:
    assert table().grant_for(f"Bearer {PLAIN}") == Grant("a", frozenset({"acme-a", "acme-c"}),
                                                         can_write=False)
    assert table().grant_for(f"bearer  {HASHED} ") == Grant("ops", None, can_write=True)


HASHED_DIGEST = hashlib.sha256(HASHED.encode()).hexdigest()


@pytest.mark.parametrize("header", ["", "Bearer", f"Basic {PLAIN}", f"Bearer {PLAIN}x",
                                    f"Bearer {PLAIN[:-1]}", f"Bearer {HASHED_DIGEST}"])
def test_anything_else_is_a_401_with_a_challenge(header: str) -> None:
    with pytest.raises(ApiError) as refused:
        table().grant_for(header)
    assert refused.value.status == 401
    assert refused.value.headers["WWW-Authenticate"].startswith('Bearer realm="logwarden"')


def test_api_token_prints_a_token_and_an_entry_that_matches_it() -> None:
    done = CliRunner().invoke(main, ["api-token", "--name", "ci", "--project", "acme-a",
                                     "--write"])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    token = lines[0].rsplit(" ", 1)[1]
    entry = ApiTokenSettings.model_validate(json.loads(lines[-1]))
    assert entry.token is None and entry.access == "write" and entry.projects == ["acme-a"]
    grant = TokenTable.from_settings([entry]).grant_for(f"Bearer {token}")
    assert grant.name == "ci" and grant.can_write
