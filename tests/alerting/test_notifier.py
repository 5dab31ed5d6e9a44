from __future__ import annotations

import pytest

from alerting.notifier import (
    REDACTED,
    DeliveryResult,
    classify_http_status,
    parse_retry_after,
    redact,
    url_secrets,
)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_delivered(status: int) -> None:
    assert classify_http_status(status, {}) == DeliveryResult(True, False, None, None)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_429_and_5xx_are_retryable(status: int) -> None:
    result = classify_http_status(status, {}, "busy")
    assert (result.ok, result.retryable) == (False, True)
    assert result.reason is not None and str(status) in result.reason and "busy" in result.reason


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 410, 413])
def test_other_statuses_are_permanent(status: int) -> None:
    result = classify_http_status(status, {"Retry-After": "5"})
    assert (result.ok, result.retryable, result.retry_after_s) == (False, False, None)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"RETRY-AFTER": " 30 "}, 30.0),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
        ({"Retry-After": "-3"}, None),
        ({"Retry-After": "nan"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_honoured_in_seconds_only(
    headers: dict[str, str], expected: float | None
) -> None:
    assert classify_http_status(429, headers).retry_after_s == expected
    assert classify_http_status(503, headers).retry_after_s == expected


def test_reason_keeps_the_body_short_and_on_one_line() -> None:
    reason = classify_http_status(400, {}, "invalid_payload\n" + "x" * 5000).reason
    assert reason is not None
    assert reason.startswith("HTTP 400 Bad Request: invalid_payload")
    assert "\n" not in reason and len(reason) < 400


def test_unknown_status_still_classified() -> None:
    assert classify_http_status(599, {}).retryable
    assert not classify_http_status(499, {}).retryable


def test_delivered_result_cannot_ask_for_a_retry() -> None:
    with pytest.raises(ValueError):
        DeliveryResult(ok=True, retryable=True)


def test_parse_retry_after_absent() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("0") == 0.0


def test_redact_replaces_plain_and_url_encoded_forms() -> None:
    secret = "p@ss/word"
    text = f"login {secret} failed; retried with p%40ss%2Fword"
    assert redact(text, [secret]) == f"login {REDACTED} failed; retried with {REDACTED}"


def test_redact_replaces_the_longest_secret_whole() -> None:
    url = "https://hooks.example/services/T1/B2/tok3n"
    assert redact(f"POST {url} failed", url_secrets(url)) == f"POST {REDACTED} failed"


def test_redact_ignores_empty_secrets() -> None:
    assert redact("nothing to hide", ["", ""]) == "nothing to hide"


def test_url_secrets_cover_token_path_query_and_password() -> None:
    secrets = url_secrets("https://user:hunter2@hooks.example/services/T1/B2/tok3n?sig=abc")
    assert {"tok3n", "/services/T1/B2/tok3n?sig=abc", "sig=abc", "hunter2"} <= set(secrets)
    assert "/" not in secrets
