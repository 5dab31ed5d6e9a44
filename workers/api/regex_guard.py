"""Refusing the regular expressions that backtrack without end.

A tenant's silence matcher runs in the shared senders against every incident's labels;
Python's `re` takes exponential time on a repetition nested in another, like `(a+)+$`
on a long run of `a`. Such patterns are refused where tenants write them (the API);
they are never needed to match a service, stream or type name.
"""

from __future__ import annotations

import re
import re._constants as sre_constants  # the parser is private API, stable since 3.11
import re._parser as sre_parser
from typing import Any

_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT,
            sre_constants.POSSESSIVE_REPEAT}


def backtracks(pattern: str) -> bool:
    """True when `pattern` repeats something that itself repeats (ValueError if it is
    not a regular expression)."""
    try:
        parsed = sre_parser.parse(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
    return _nested_repeat(parsed.data, inside=False)


def _nested_repeat(items: Any, *, inside: bool) -> bool:
    for op, arg in items:
        if op in _REPEATS:
            _low, high, sub = arg
            repeats = high > 1
            if repeats and inside:
                return True
            if _nested_repeat(sub, inside=inside or repeats):
                return True
        elif any(_nested_repeat(sub, inside=inside) for sub in _parts(arg)):
            return True
    return False


def _parts(arg: Any) -> list[Any]:
    """The sub-patterns of a group, an alternation or an assertion."""
    if isinstance(arg, sre_parser.SubPattern):
        return [arg]
    if isinstance(arg, tuple | list):
        return [part for item in arg for part in _parts(item)]
    return []
