"""The regular expressions behind masking (compiled with re.ASCII by `masking`).

Each pattern starts at a token edge (a look-behind) and uses possessive quantifiers
where a failed match could otherwise retry every split of a long token. Where it can,
a pattern starts with the character it must begin with and checks the edge just after
it (PATH_ABSOLUTE takes its `/`, then looks behind it): the regex engine then skips
ahead to that character instead of trying every position of the line.
"""

from __future__ import annotations

_ALNUM_BEFORE = r"(?<![A-Za-z0-9])"
_ALNUM_AFTER = r"(?![A-Za-z0-9])"
_HEX = "[0-9a-fA-F]"
_H16 = "[0-9a-fA-F]{1,4}"
_PORT = r"(?::\d{1,5})?"
_MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_WEEKDAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_TLD = "(?:com|net|org|edu|gov|mil|int|info|biz|io|asia|cloud|dev|app|local|internal)"

URL = r"(?<![\w+.-])[a-zA-Z][a-zA-Z0-9+.-]*+://[^\s\"'<>]*[^\s\"'<>.,:;)\]]"
PATH_ABSOLUTE = r"/(?<![\w:/.]/)[\w.@~+%=-]++(?:/[\w.@~+%=-]++)+/?(?:\?[^\s\"']*+)?"
PATH_RELATIVE = r"(?<![\w/.<>-])[\w.-]++(?:/[\w.-]++){2,}/?"
PATH_WINDOWS = r"(?<![\w])[A-Za-z]:\\[^\s,;\"']*+"
EMAIL = r"(?<![\w.+-])[\w.+-]++@(?:[a-zA-Z0-9-]++\.)+[a-zA-Z]{2,}+(?![\w-])"
UUID = (
    rf"{_HEX}(?<![A-Za-z0-9]{_HEX}){_HEX}{{7}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
    rf"{_ALNUM_AFTER}"
)

_IPV6_BODY = (
    "(?:"
    f"(?:{_H16}:){{7}}{_H16}"
    f"|(?:{_H16}:){{1,7}}:"
    f"|(?:{_H16}:){{1,6}}:{_H16}"
    f"|(?:{_H16}:){{1,5}}(?::{_H16}){{1,2}}"
    f"|(?:{_H16}:){{1,4}}(?::{_H16}){{1,3}}"
    f"|(?:{_H16}:){{1,3}}(?::{_H16}){{1,4}}"
    f"|(?:{_H16}:){{1,2}}(?::{_H16}){{1,5}}"
    f"|{_H16}:(?::{_H16}){{1,6}}"
    f"|:(?::{_H16}){{1,7}}"
    ")"
)
# The look-ahead (two colons close by) fails fast on nearly every position of a line.
IPV6 = (
    rf"(?<![\w:])(?=\[?{_HEX}{{0,4}}:{_HEX}{{0,4}}:)"
    rf"(?:\[{_IPV6_BODY}\]{_PORT}|{_IPV6_BODY})(?![\w:])"
)
IPV4 = rf"\d(?<![\w.]\d)\d{{0,2}}(?:\.\d{{1,3}}){{3}}{_PORT}(?!\w|\.\w)"
# Any dotted name with a port is an address; without one it needs a known suffix,
# or file names (`wcp.dll`) and class names would be masked too.
HOST_PORT = r"(?<![\w.-])(?:[a-zA-Z0-9-]++\.)+[a-zA-Z][a-zA-Z0-9-]*+:\d{1,5}(?![\w.])"
HOSTNAME = (
    rf"(?<![\w.-])(?:(?:[a-zA-Z0-9-]++\.)+{_TLD}|(?:[a-zA-Z0-9-]++\.){{2,}}[a-z]{{2}})"
    r"(?![\w-]|\.\w)"
)

SYSLOG_TIME = (
    rf"\b(?:{_WEEKDAY}\s+)?{_MONTH}\s+\d{{1,2}}\s+\d{{1,2}}:\d{{2}}:\d{{2}}(?:\s+\d{{4}})?\b"
)
ISO_TIME = (
    r"\d(?<!\w\d)\d{3}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?(?![\w:])"
)
DATE = r"\d(?<!\w\d)\d{3}[-/]\d{1,2}[-/]\d{1,2}\b"
CLOCK_TIME = r"\d(?<![\w:]\d)\d?:\d{2}(?::\d{2})?(?:[.,]\d+)?(?![\w:])"

USER = r"\b([Uu]ser)\s+[^\s<>=,;:()'\"\[\]]++"
# Numeric patterns start with a digit so that the regex engine can skip ahead to the
# next digit; the look-behind after it checks the token edge.
_AMOUNT = r"\d(?<![A-Za-z0-9.]\d)\d*+(?:\.\d++)?\s?"
SIZE = (
    rf"{_AMOUNT}(?:[KMGTP]i?B|[kKMGTP]b|B|bytes?)"
    rf"(?:\s\(\d++(?:\.\d++)?\s?[KMGTP]i?B\))?{_ALNUM_AFTER}"
)
DURATION = (
    r"(?:<\d|\d)(?<![A-Za-z0-9.][<\d])\d*+(?:\.\d++)?\s?"
    rf"(?:ns|us|µs|ms|s|secs?|seconds?|mins?|minutes?|h|hrs?|hours?|days?){_ALNUM_AFTER}"
)
# 0x-prefixed, or a run of hex digits holding at least one digit and one letter.
HEX_ID = (
    rf"{_ALNUM_BEFORE}(?:0[xX]{_HEX}++"
    rf"|(?={_HEX}*?[0-9])(?={_HEX}*?[a-fA-F]){_HEX}++){_ALNUM_AFTER}"
)
NUMBER = rf"\d(?<![A-Za-z0-9.]\d)\d*+(?:\.\d++)*{_ALNUM_AFTER}"
# A sign joins its number only where it cannot be a separator ("id-42" keeps its hyphen).
SIGNED = r"[-+](?<![A-Za-z0-9.>)\]-][-+])(?=<NUM>)"
# What numbers are left sit inside a word: a token holding a run of two digits or more,
# or a digit beside a dot, dash or underscore (`core.2275`, `an14`, `job_7_b`), is one
# variable, as Drain treats any token with a digit. A single digit glued to letters
# (`en0`, `IPV6`, `ssh2`) usually names a thing and is kept.
MIXED_ID = (
    r"(?<![\w.<>-])(?=[\w.<>-]*?(?:\d\d|[._-]\d|\d[._-]))[\w.<>-]++"
)
# A parenthesised token standing alone, empty or holding a digit, dot or placeholder:
# "(host.example.com)", "(10.0.0.1)" and "()" are one value that may be missing.
PAREN_VALUE = r"\((?<!\S\()(?=[^\s()]*?[\d.<]|\))[^\s()]*+\)(?=[\s,.:;]|$)"
