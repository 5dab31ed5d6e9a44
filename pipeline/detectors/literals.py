"""Literal prefilters: strings of which a regex's every match must contain one.

A rule's regex runs over every entry, and almost no entry matches. Checking first
whether the lowercased message contains any of the regex's required literals skips the
regex for nearly all of them; the regex still decides every entry that passes.
"""

from __future__ import annotations

import re
import re._parser as sre_parse
from typing import Any

_OPCODE = type(sre_parse.LITERAL)
_LITERAL = sre_parse.LITERAL
_NOT_LITERAL = sre_parse.NOT_LITERAL
_RANGE = sre_parse.RANGE
_CATEGORY = sre_parse.CATEGORY
# The only classes whose Unicode and ASCII meanings part on ASCII text.
_SPACES = (sre_parse.CATEGORY_SPACE, sre_parse.CATEGORY_NOT_SPACE)
_BRANCH = sre_parse.BRANCH
_SUBPATTERN = sre_parse.SUBPATTERN
_REPEATS = (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT)


def required_literals(pattern: str) -> tuple[str, ...] | None:
    """Lowercased strings of which every match of `pattern` contains at least one.

    None when no such set is found (the regex must then run on every line). The set is
    for lowercased ASCII text only: Unicode case folding (long s matches "s" when case
    is ignored) is outside what a lowercase check sees, so non-ASCII lines skip it.
    """
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return None
    found = _sequence(list(parsed))
    if not found or any(len(s) < 2 or not s.isascii() for s in found):
        return None  # one-letter literals filter nothing; non-ASCII ones fold unlike lower()
    return tuple(sorted(found))


def _sequence(items: list[tuple[Any, Any]]) -> set[str] | None:
    """The best required set of one concatenation: its longest literal run, or a group's."""
    candidates: list[set[str]] = []
    run: list[str] = []
    for op, av in [*items, (None, None)]:
        if op is _LITERAL:
            run.append(chr(av).lower())
            continue
        if run:
            candidates.append({"".join(run)})
            run = []
        if inner := _nested(op, av):
            candidates.append(inner)
    if not candidates:
        return None
    return max(candidates, key=lambda s: min(len(x) for x in s))


def _nested(op: Any, av: Any) -> set[str] | None:
    """The required set of a group, an alternation or a repeat of at least one."""
    if op is _SUBPATTERN and not av[1] and not av[2]:  # no local flags
        return _sequence(list(av[3]))
    if op is _BRANCH:
        return _branches(av[1])
    if op in _REPEATS and av[0] >= 1:
        return _sequence(list(av[2]))
    return None


def _branches(branches: list[Any]) -> set[str] | None:
    union: set[str] = set()
    for branch in branches:
        found = _sequence(list(branch))
        if not found:
            return None
        union |= found
    return union


def ascii_twin(pattern: str) -> re.Pattern[str] | None:
    """`pattern` compiled for ASCII text (`re.ASCII`), when it matches ASCII text exactly
    as `pattern` does; None when it may not (or does not compile).

    The ASCII forms of ignoring case and of \\b and \\w cost less than the Unicode ones:
    the rule pack's regexes run nearly twice as fast. On ASCII text the two agree unless
    the pattern names a character past ASCII (the Kelvin sign folds to "k") or uses \\s
    or \\S (which in Unicode also holds \\x1c-\\x1f).
    """
    try:
        parsed = sre_parse.parse(pattern)
        return re.compile(pattern, re.ASCII) if _ascii_alike(parsed.data) else None
    except (re.error, ValueError):  # ValueError: an explicit (?u), which re.ASCII refuses
        return None


def _ascii_alike(node: object) -> bool:
    """Whether a parsed pattern (or a part of it) names nothing past ASCII and no \\s."""
    if isinstance(node, sre_parse.SubPattern):
        node = node.data
    if isinstance(node, tuple) and len(node) == 2 and isinstance(node[0], _OPCODE):
        op, av = node
        if op is _LITERAL or op is _NOT_LITERAL:
            return bool(av < 128)
        if op is _RANGE:
            return bool(av[1] < 128)
        if op is _CATEGORY:
            return av not in _SPACES
        return _ascii_alike(av)
    if isinstance(node, list | tuple):
        return all(map(_ascii_alike, node))
    return True  # a count, a group number, a flag


def max_width(pattern: str) -> int | None:
    """The most characters a match of `pattern` spans; None when there is no such bound."""
    try:
        longest = sre_parse.parse(pattern).getwidth()[1]
    except re.error:
        return None
    return None if longest >= sre_parse.MAXREPEAT else int(longest)
