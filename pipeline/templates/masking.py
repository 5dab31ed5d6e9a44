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
    r"""One kind of variable: where it is (`pattern`) and what it becomes (`replacement`).

    The regex runs only on lines holding `needs` (when given), a digit (when
    `needs_digit`) and a match of `gate` (when given): cheap tests that skip most rules
    on most lines. A gate is a part every match must contain (`:\d\d` for a clock time),
    written to start with a literal so that the engine finds it fast.
    """

    kind: str
    pattern: re.Pattern[str]
    replacement: str
    needs: str = ""
    needs_digit: bool = False
    gate: re.Pattern[str] | None = None


_DIGIT = re.compile(r"[0-9]")


def _rule(
    kind: str, replacement: str, pattern: str, needs: str = "", digit: bool = False,
    gate: str = "",
) -> MaskRule:
    return MaskRule(kind, re.compile(pattern, re.ASCII), replacement, needs, digit,
                    re.compile(gate, re.ASCII) if gate else None)


_TLD = "(?:com|net|org|edu|gov|mil|int|info|biz|io|asia|cloud|dev|app|local|internal)"
_HOST_END = r"(?![\w-]|\.\w)"
# What every match of the rule contains (see its pattern): a necessary condition.
# An IPv6 address holds "::" or seven colons between groups.
_GATE_IPV6 = ":(?::|(?:[0-9a-fA-F]{1,4}:){6})"
_GATE_IPV4 = r"\.\d{1,3}\.\d{1,3}\.\d"
_GATE_HOST_PORT = r"\.[a-zA-Z][a-zA-Z0-9-]*+:\d"
_GATE_HOSTNAME = rf"\.(?:{_TLD}{_HOST_END}|[a-zA-Z0-9-]++\.[a-z]{{2}}{_HOST_END})"
_GATE_UUID = "-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
_MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_GATE_SYSLOG_TIME = rf"{_MONTH}\s+\d{{1,2}}\s+\d{{1,2}}:\d\d:\d\d"
_GATE_ISO_TIME = r"-\d\d-\d\d[T ]\d\d:\d\d:\d\d"
_GATE_DATE = r"[-/]\d{1,2}[-/]\d"
_GATE_CLOCK = r":\d\d"
_GATE_PATH_RELATIVE = r"/[\w.-]++/[\w.-]"
_GATE_SIZE = "[Bb](?:ytes?)?(?![A-Za-z0-9])"
# The unit's first letter is taken at once (each branch looks back at it): most digits
# are followed by none, and fail there rather than in each of the units in turn.
_GATE_DURATION = (
    r"\d\s?[nuµmshd](?:(?<=[nuµm])s|(?<=s)(?:ec(?:ond)?s?)?|(?<=m)in(?:ute)?s?"
    r"|(?<=h)(?:rs?|ours?)?|(?<=d)ays?)(?![A-Za-z0-9])"
)
# A run of hex digits that holds a digit and a letter has the two side by side somewhere.
_GATE_HEX = "[0-9](?:(?<=[a-fA-F][0-9])|(?=[a-fA-FxX]))"
_GATE_MIXED_ID = r"\d\d|[._-]\d|\d[._-]"
# A gate that starts with a literal lets the engine skip ahead to it.
_GATE_EMAIL = r"@[a-zA-Z0-9-]++\."  # the domain's first label and its dot
_GATE_SIGN = "<NUM>(?<=[-+]<NUM>)"


DEFAULT_RULES: tuple[MaskRule, ...] = (
    _rule("url", "<URL>", URL, needs="://"),
    _rule("path", "<PATH>", PATH_ABSOLUTE, needs="/"),
    _rule("email", "<EMAIL>", EMAIL, needs="@", gate=_GATE_EMAIL),
    _rule("uuid", "<UUID>", UUID, needs="-", digit=True, gate=_GATE_UUID),
    _rule("ipv6", "<HOST>", IPV6, needs=":", gate=_GATE_IPV6),
    _rule("ipv4", "<HOST>", IPV4, needs=".", digit=True, gate=_GATE_IPV4),
    _rule("host_port", "<HOST>", HOST_PORT, needs=".", digit=True, gate=_GATE_HOST_PORT),
    _rule("hostname", "<HOST>", HOSTNAME, needs=".", gate=_GATE_HOSTNAME),
    _rule("time", "<TIME>", SYSLOG_TIME, needs=":", digit=True, gate=_GATE_SYSLOG_TIME),
    _rule("time", "<TIME>", ISO_TIME, needs=":", digit=True, gate=_GATE_ISO_TIME),
    _rule("time", "<TIME>", DATE, digit=True, gate=_GATE_DATE),
    _rule("time", "<TIME>", CLOCK_TIME, needs=":", digit=True, gate=_GATE_CLOCK),
    _rule("path", "<PATH>", PATH_RELATIVE, needs="/", gate=_GATE_PATH_RELATIVE),
    _rule("path", "<PATH>", PATH_WINDOWS, needs=":\\"),
    _rule("user", r"\1 <USER>", USER, needs="ser"),
    _rule("size", "<SIZE>", SIZE, digit=True, gate=_GATE_SIZE),
    _rule("duration", "<DURATION>", DURATION, digit=True, gate=_GATE_DURATION),
    _rule("hex", "<NUM>", HEX_ID, digit=True, gate=_GATE_HEX),
    _rule("number", "<NUM>", NUMBER, digit=True),
    _rule("sign", "", SIGNED, gate=_GATE_SIGN),
    _rule("id", "<ID>", MIXED_ID, digit=True, gate=_GATE_MIXED_ID),
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
        self._plan = tuple(
            (r.pattern.sub, r.replacement, r.needs, r.needs_digit, r.gate) for r in rules
        )

    def mask(self, message: str) -> str:
        """The message with every variable part replaced; pure and never raises."""
        text = message.replace(DRAIN_WILDCARD, _WILDCARD_STAND_IN)
        has_digit = _DIGIT.search(text) is not None
        digits_of = text  # the text `has_digit` was found for: masking removes digits
        for substitute, replacement, needs, needs_digit, gate in self._plan:
            if needs_digit:
                if text is not digits_of:
                    has_digit, digits_of = _DIGIT.search(text) is not None, text
                if not has_digit:
                    continue
            if needs and needs not in text:
                continue
            if gate is not None and gate.search(text) is None:
                continue
            text = substitute(replacement, text)
        if ",<" in text:  # lists such as "<HOST>,<HOST>" vary in length: one placeholder
            text = _REPEATED_MASK.sub(r"\1", text)
        return text
