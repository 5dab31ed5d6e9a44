"""Redaction: secrets and personal data taken out of log text before it leaves the process.

Applied to every line and template that goes into an LLM prompt and to the text of
alerts (Slack, email). Rules run in order, each on the output of the one before, so a
wide shape (a password inside a URL, a bearer token) is taken before a narrower rule
could half-match it. Each replacement names what was there (`<email>`, `<ip>`), so a
reader (or a model) still knows the shape of the line. Patterns are anchored at token
edges and bounded, so a long line costs linear time.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache

REDACTED = "<redacted>"

_Replace = str | Callable[[re.Match[str]], str]


@dataclass(frozen=True, slots=True)
class RedactionRule:
    """One kind of sensitive text: where it is and what it becomes. `needs`, when given,
    is a substring the text must hold for the regex to run at all (a cheap skip)."""

    kind: str
    pattern: re.Pattern[str]
    replacement: _Replace
    needs: str = ""


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "<card>" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


def _ipv6(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])
    except ValueError:  # a clock time, a MAC-like id: not an address
        return text
    return "<ip>"


_SECRET_KEYS = (
    r"pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|client[_-]?secret|authorization|credentials?|session[_-]?id"
    r"|cookie|signature"
)
_SECRET_KEY = re.compile(_SECRET_KEYS, re.IGNORECASE)
_KEY_VALUE = re.compile(
    r"(?<![\w.-])([\w.-]{1,80})([\"']?\s{0,3}[:=]\s{0,3}[\"']?)(?!<)([^\s\"',;&}\]]{1,512})"
)


def _key_value(match: re.Match[str]) -> str:
    key, between, value = match.groups()
    if _SECRET_KEY.search(key) is None:  # the value may hold a pair of its own (a=b=c)
        return f"{key}{between}{_KEY_VALUE.sub(_key_value, value)}"
    return f"{key}{between}{REDACTED}"


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"


def _r(kind: str, pattern: str, replacement: _Replace, needs: str = "") -> RedactionRule:
    return RedactionRule(kind, re.compile(pattern), replacement, needs)


DEFAULT_RULES: tuple[RedactionRule, ...] = (
    # scheme://user:password@host: the password goes, the user and host stay.
    _r("url_password", r"(\b[a-zA-Z][\w+.-]{0,20}://[^\s:/@]{0,256}:)[^\s@/]{1,256}(@)",
       rf"\1{REDACTED}\2", needs="://"),
    _r("jwt", r"\beyJ[\w-]{4,}\.eyJ[\w-]{4,}\.[\w-]*", "<jwt>", needs="eyJ"),
    _r("bearer", r"(?i)\b(bearer|basic)(\s+)[\w.~+/-]{8,}=*", r"\1\2<token>"),
    _r("google_api_key", r"\bAIza[\w-]{35}", "<api-key>", needs="AIza"),
    _r("aws_key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", "<api-key>", needs="A"),
    _r("vendor_token",
       r"\b(?:sk|pk|rk)[-_](?:live[-_]|test[-_])?[\w-]{20,}|\bgh[pousr]_\w{30,}"
       r"|\bxox[abposr]-[\w-]{10,}|\bglpat-[\w-]{20,}", "<api-key>"),
    _r("slack_webhook", r"hooks\.slack\.com/services/[\w/]+", "hooks.slack.com/<redacted>",
       needs="hooks.slack.com"),
    # password=..., "token": "...", api_key: ... (the key stays, the value goes)
    # The key is taken whole (a token, then `:` or `=`) and checked after: linear time.
    RedactionRule("key_value", _KEY_VALUE, _key_value),
    _r("email", r"\b[\w.%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,}\b",
       "<email>", needs="@"),
    _r("ipv6", r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?![\w:])",
       _ipv6, needs=":"),
    _r("ipv4", rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\.?\w)", "<ip>", needs="."),
    # Card-like: 13-19 digits (spaces or dashes between), a card's first digit, Luhn valid.
    _r("card", r"(?<![\w-])[2-6](?:[ -]?\d){12,18}(?![\w-])", _card),
    # Long mixed letter-and-digit strings are keys more often than words.
    _r("long_token", r"\b(?=[A-Za-z+/_]*\d)(?=[\d+/_]*[A-Za-z])[A-Za-z0-9+/_]{32,}={0,2}",
       "<token>"),
)


@dataclass(frozen=True, slots=True)
class Redactor:
    """Applies its rules in order; `literals` (known secret values) go first, whole."""

    rules: tuple[RedactionRule, ...] = DEFAULT_RULES
    literals: tuple[str, ...] = ()

    def redact(self, text: str) -> str:
        """`text` with everything sensitive replaced; the same text always gives the same."""
        for literal in self.literals:
            text = text.replace(literal, REDACTED)
        for rule in self.rules:
            if rule.needs and rule.needs not in text:
                continue
            text = rule.pattern.sub(rule.replacement, text)
        return text

    def redact_all(self, texts: Iterable[str]) -> list[str]:
        return [self.redact(t) for t in texts]


def build_redactor(
    extra_patterns: Sequence[str] = (), secrets: Sequence[str] = ()
) -> Redactor:
    """The default rules, then `extra_patterns` (regexes from config; a bad one raises
    ValueError naming it), with known `secrets` replaced wherever they appear."""
    extra = []
    for i, pattern in enumerate(extra_patterns):
        try:
            extra.append(_r(f"config_{i}", pattern, REDACTED))
        except re.error as error:
            message = f"redaction pattern {pattern!r} is not a valid regex: {error}"
            raise ValueError(message) from None
    literals = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))
    return Redactor((*DEFAULT_RULES, *extra), literals)


@cache
def default_redactor() -> Redactor:
    return Redactor()


def redact(text: str) -> str:
    """`text` through the default rules (what alert texts get)."""
    return default_redactor().redact(text)
