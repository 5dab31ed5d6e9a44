"""Redaction: every kind of secret goes, the shape of the line stays."""

from __future__ import annotations

import time

import pytest

from pipeline.escalation.redaction import build_redactor, redact

SECRETS = [
    ("login failed for alice.smith@example.com from web", "alice.smith@example.com", "<email>"),
    ("connect from 192.168.10.23 port 22", "192.168.10.23", "<ip>"),
    ("peer 2001:db8:85a3::8a2e:370:7334 closed", "2001:db8:85a3::8a2e:370:7334", "<ip>"),
    ("listening on ::1 and fe80::1%eth0", "fe80::1", "<ip>"),
    ("Authorization: Bearer ya29.a0AfH6SMBx3kQ-tokenvalue_9", "ya29.a0AfH6SMBx3kQ", "<token>"),
    (
        "session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P",
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P",
        "session <jwt>",
    ),
    ("using key AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSyA1234567890abcdef", "<api-key>"),
    ("aws AKIAIOSFODNN7EXAMPLE denied", "AKIAIOSFODNN7EXAMPLE", "<api-key>"),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc charged", "4eC39HqLyjWDarjtT1zdp7dc", "<api-key>"),
    ("db postgres://app:hunter2pass@db.internal:5432/x", "hunter2pass", "app:<redacted>@"),
    ("retry with password=s3cr3t! user=bob", "s3cr3t!", "password=<redacted>"),
    ('{"api_key": "abcd1234efgh", "ok": true}', "abcd1234efgh", '"api_key": "<redacted>"'),
    ("client_secret: Zm9vYmFy", "Zm9vYmFy", "client_secret: <redacted>"),
    ("opts config=password=pa55word!", "pa55word!", "password=<redacted>"),
    ("charged card 4111 1111 1111 1111 ok", "4111 1111 1111 1111", "<card>"),
    ("charged card 5500-0000-0000-0004 ok", "5500-0000-0000-0004", "<card>"),
    (
        "sig 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 bad",
        "9f86d081884c7d659a2feaa0c55ad015",
        "<token>",
    ),
]


@pytest.mark.parametrize(("line", "secret", "marker"), SECRETS)
def test_each_kind_of_secret_is_replaced(line: str, secret: str, marker: str) -> None:
    out = redact(line)
    assert secret not in out
    assert marker in out


KEPT = [
    "GET /api/v1/orders 200 in 35ms",
    "worker 12:30:45.123 took 4 retries",  # a clock time is not an IPv6 address
    "Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106",
    "order 1234567890123 shipped",  # 13 digits, not Luhn valid: kept
    "token expired for session, please log in again",
    "version 1.2.3 released",
    "rules/auth-failures: share=0.66, matches=59, min_count=25",
]


@pytest.mark.parametrize("line", KEPT)
def test_ordinary_text_keeps_its_words(line: str) -> None:
    out = redact(line)
    # Only the IP in the HDFS line may change; the other words are all still there.
    for word in line.replace("10.250.19.102", "").split():
        assert word.strip(":/") in out or word.startswith("/10.")


def test_the_hdfs_address_goes_but_the_block_id_stays() -> None:
    out = redact("Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106")
    assert out == "Receiving block blk_-1608999687919862906 src: /<ip>:54106"


def test_config_patterns_and_known_secrets_are_applied() -> None:
    redactor = build_redactor([r"\bCUST-\d{6}\b"], secrets=["webhook-token-xyz"])
    out = redactor.redact("customer CUST-004211 via webhook-token-xyz failed")
    assert out == "customer <redacted> via <redacted> failed"


def test_a_bad_config_pattern_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"redaction pattern '\(unclosed'"):
        build_redactor(["(unclosed"])


def test_redaction_is_idempotent() -> None:
    line = "user bob@example.org password=x1 from 10.0.0.1 Bearer abcdefghijk12345"
    once = redact(line)
    assert redact(once) == once


def test_a_long_hostile_line_costs_linear_time() -> None:
    line = ("a:" * 20000) + ("1." * 20000) + ("password=" * 5000) + ("@" * 20000)
    started = time.perf_counter()
    redact(line)
    assert time.perf_counter() - started < 2.0


def test_parameter_values_are_summarised_redacted() -> None:
    from pipeline.escalation.request import parameter_summary

    lines = [f"login failed for user{i}@example.com after {i} tries" for i in range(5)]
    summary = parameter_summary(lines, build_redactor())
    assert summary == ("word 4: <email> (5 distinct)", "word 6: 0, 1, 2 (5 distinct)")
