"""Silence matchers a tenant writes: the patterns that backtrack without end are
refused, the ones people write to match names are not."""

from __future__ import annotations

import pytest

from workers.api.regex_guard import backtracks


@pytest.mark.parametrize("pattern", [
    "(a+)+$", "(a*)*", "(x+x+)+y", r"(\w+\s?)+$", "(a{2,})+", "(?:(?:ab)+c)+",
    "(?=a+)+", "((a|b)+)*",
])
def test_a_repetition_inside_a_repetition_is_refused(pattern: str) -> None:
    assert backtracks(pattern)


@pytest.mark.parametrize("pattern", [
    "error_.*", "acme-prod/.*", "(error|warn)_burst", "(?:a|b)+", "a{1,3}", "(a+){1}",
    "checkout-v[0-9]+", "^(payments|billing)$",
])
def test_patterns_that_match_names_are_kept(pattern: str) -> None:
    assert not backtracks(pattern)


def test_a_pattern_that_is_not_one_says_so() -> None:
    with pytest.raises(ValueError, match="not a regular expression"):
        backtracks("(a")
