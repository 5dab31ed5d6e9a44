"""Masking: variable parts of a log line become typed placeholders before Drain sees it.

The rules run in order, each on the output of the one before, so a wide shape (a URL,
a path) is taken whole before its parts (numbers, ids) could be. They were tuned for
grouping accuracy on the Loghub samples (`tests/pipeline/test_grouping_accuracy.py`).
Every pattern is anchored at token edges so that a long line costs linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.templates.patterns import (
    CLOCK_TIME,
    DATE,
    DURATION,
    EMAIL,
    HEX_ID,
    HOST_PORT,
    HOSTNAME,
    IPV4,
    IPV6,
    ISO_TIME,
    MIXED_ID,
    NUMBER,
    PAREN_VALUE,
    PATH_ABSOLUTE,
    PATH_RELATIVE,
    PATH_WINDOWS,
    SIGNED,
    SIZE,
    SYSLOG_TIME,
    URL,
    USER,
    UUID,
)

# Bumped whenever a rule changes what a line masks to: miner snapshots name it.
MASKING_VERSION = 2

# Drain's own wildcard; a line that carries it literally must not look generalized.
DRAIN_WILDCARD = "<*>"
_WILDCARD_STAND_IN = "<?>"
_REPEATED_MASK = re.compile(r"(<[A-Z]+>)(?:,\1)+")


@dataclass(frozen=True, slots=True)
class MaskRule:
    """One kind of variable: where it is (`pattern`) and what it becomes (`replacement`).

    The regex runs only on lines holding `needs` (when given) and a digit (when
    `needs_digit`): cheap tests that skip most rules on most lines.
    """

    kind: str
    pattern: re.Pattern[str]
    replacement: str
    needs: str = ""
    needs_digit: bool = False


_DIGIT = re.compile(r"[0-9]")


def _rule(
    kind: str, replacement: str, pattern: str, needs: str = "", digit: bool = False
) -> MaskRule:
    return MaskRule(kind, re.compile(pattern, re.ASCII), replacement, needs, digit)


DEFAULT_RULES: tuple[MaskRule, ...] = (
    _rule("url", "<URL>", URL, needs="://"),
    _rule("path", "<PATH>", PATH_ABSOLUTE, needs="/"),
    _rule("email", "<EMAIL>", EMAIL, needs="@"),
    _rule("uuid", "<UUID>", UUID, needs="-", digit=True),
    _rule("ipv6", "<HOST>", IPV6, needs=":"),
    _rule("ipv4", "<HOST>", IPV4, needs=".", digit=True),
    _rule("host_port", "<HOST>", HOST_PORT, needs=".", digit=True),
    _rule("hostname", "<HOST>", HOSTNAME, needs="."),
    _rule("time", "<TIME>", SYSLOG_TIME, needs=":", digit=True),
    _rule("time", "<TIME>", ISO_TIME, needs=":", digit=True),
    _rule("time", "<TIME>", DATE, digit=True),
    _rule("time", "<TIME>", CLOCK_TIME, needs=":", digit=True),
    _rule("path", "<PATH>", PATH_RELATIVE, needs="/"),
    _rule("path", "<PATH>", PATH_WINDOWS, needs=":\\"),
    _rule("user", r"\1 <USER>", USER, needs="ser"),
    _rule("size", "<SIZE>", SIZE, digit=True),
    _rule("duration", "<DURATION>", DURATION, digit=True),
    _rule("hex", "<NUM>", HEX_ID, digit=True),
    _rule("number", "<NUM>", NUMBER, digit=True),
    _rule("sign", "", SIGNED, needs="<NUM>"),
    _rule("id", "<ID>", MIXED_ID, digit=True),
    _rule("value", "(<VAL>)", PAREN_VALUE, needs="("),
)


def default_rules(words_with_numbers: bool = True) -> tuple[MaskRule, ...]:
    """The rules above, optionally without the one for words holding numbers."""
    return tuple(r for r in DEFAULT_RULES if words_with_numbers or r.kind != "id")


# Whole tokens that masking makes: two different ones at one position are one variable.
PLACEHOLDERS = frozenset(
    ["<URL>", "<PATH>", "<EMAIL>", "<UUID>", "<HOST>", "<TIME>", "<USER>", "<SIZE>",
     "<DURATION>", "<NUM>", "<ID>"]
)


class LogMasker:
    """Replaces the variable parts of a message with typed placeholders such as `<HOST>`.

    Placeholders: URL, PATH, EMAIL, UUID, HOST (IPv4/IPv6 with or without port, host
    names), TIME (dates and clock times), USER, SIZE, DURATION, NUM (decimal and hex
    numbers, hex ids), ID (a word with a number in it: `core.2275`, `an14`) and VAL
    (a lone parenthesised value, empty or not).
    """

    def __init__(self, rules: tuple[MaskRule, ...] = DEFAULT_RULES) -> None:
        self.rules = rules
        self._plan = tuple((r.pattern.sub, r.replacement, r.needs, r.needs_digit) for r in rules)

    def mask(self, message: str) -> str:
        """The message with every variable part replaced; pure and never raises."""
        text = message.replace(DRAIN_WILDCARD, _WILDCARD_STAND_IN)
        has_digit = _DIGIT.search(text) is not None
        for substitute, replacement, needs, needs_digit in self._plan:
            if needs_digit and not has_digit:
                continue
            if needs and needs not in text:
                continue
            text = substitute(replacement, text)
        if ",<" in text:  # lists such as "<HOST>,<HOST>" vary in length: one placeholder
            text = _REPEATED_MASK.sub(r"\1", text)
        return text
