"""Rule-based detection: regexes, severities, field predicates and per-batch counts."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from itertools import accumulate, compress, repeat
from operator import add, is_not
from pathlib import Path
from typing import Any

import ahocorasick_rs
import msgspec
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.detectors.base import MinedBatch, messages
from pipeline.detectors.literals import ascii_twin, max_width, required_literals
from pipeline.entry import LogEntry, Severity
from pipeline.findings import Evidence, Finding

EVIDENCE_LIMIT = 20


class RuleConfigError(ValueError):
    """The rules file is wrong; the message says where and how."""


class Rule(BaseModel):
    """One rule. It matches an entry when every condition given holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    anomaly_type: str = Field(pattern=r"^[a-z0-9_]+$")
    description: str
    regex: str | None = None
    severity_at_least: Severity | None = None
    http_status_at_least: int | None = Field(default=None, ge=100, le=599)
    fields: dict[str, str] = {}  # dotted path -> regex, e.g. "labels.env": "^prod$"
    min_count: int = Field(default=1, ge=1)
    min_share: float = Field(default=0.0, ge=0.0, le=1.0)
    score: float = Field(default=0.8, ge=0.0, le=1.0)
    enabled: bool = True

    @field_validator("severity_at_least", mode="before")
    @classmethod
    def _severity_by_name(cls, value: Any) -> Any:
        return Severity[value.upper()] if isinstance(value, str) else value

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regex: {exc}") from exc
        return value


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]


def load_rules(path: Path | None = None, *, builtin: bool = True) -> list[Rule]:
    """The built-in pack, overridden and extended by name by the rules in `path`."""
    by_name: dict[str, Rule] = {}
    if builtin:
        text = resources.files("pipeline.detectors").joinpath("rulepack.yaml").read_text()
        by_name.update((r.name, r) for r in _parse(text, "built-in rule pack", pack=True))
    if path is not None:
        by_name.update((r.name, r) for r in _parse(_read_text(path), str(path)))
    return [r for r in by_name.values() if r.enabled]


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RuleConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from exc


# The built-in pack is read by libyaml when PyYAML has it: a tenth of the pure-Python
# reader's 3 ms at every start, the same rules (a test compares them). A user's file keeps
# the pure-Python reader, and the error messages it has always given.
_PACK_LOADER = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


def _parse(text: str, origin: str, *, pack: bool = False) -> list[Rule]:
    loader = _PACK_LOADER if pack else yaml.SafeLoader
    try:
        return RuleSet.model_validate(yaml.load(text, Loader=loader) or {"rules": []}).rules
    except yaml.YAMLError as exc:
        raise RuleConfigError(f"{origin}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise RuleConfigError(f"{origin}: {problems}") from exc


class _CompiledRule:
    __slots__ = ("ascii_regex", "fields", "literals", "regex", "rule", "sought", "width")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.regex = re.compile(rule.regex) if rule.regex else None
        # A faster form of the regex that matches ASCII messages alike, if there is one.
        self.ascii_regex = ascii_twin(rule.regex) if rule.regex else None
        self.literals = required_literals(rule.regex) if rule.regex else None
        # The literals a batch's text is searched for (None: the rule reads every entry).
        self.sought = self.literals
        if self.literals and any(_SEPARATOR in w for w in self.literals):
            self.sought = None
        # The most characters a match spans (None: no bound): a match holds one of the
        # literals, so it starts at most this far before the first of them.
        self.width = max_width(rule.regex) if self.literals and rule.regex else None
        self.fields = [(path.split("."), re.compile(rx)) for path, rx in rule.fields.items()]

    def matches(self, entry: LogEntry, lowered: str | None = None) -> bool:
        """`lowered` is the message lowercased if it is ASCII (None otherwise)."""
        rule = self.rule
        if rule.severity_at_least is not None and entry.severity < rule.severity_at_least:
            return False
        if rule.http_status_at_least is not None and (
            entry.http_status is None or entry.http_status < rule.http_status_at_least
        ):
            return False
        if self.regex is not None and not self._regex_matches(entry.message, lowered):
            return False
        return all(
            (value := _field(entry, path)) is not None and rx.search(value)
            for path, rx in self.fields
        )

    def hits(self, candidates: list[int], entries: Sequence[LogEntry], messages: Sequence[str],
             firsts: Mapping[int, int] | None = None) -> list[int]:
        """The `candidates` (entry indexes, ascending) that `matches` says match: each
        condition is tested on its own, the severity and HTTP status mostly in C, so most
        entries cost no call. `firsts` has, for some ASCII messages, where the first of the
        rule's literals starts in it: the regex is sought from a little before."""
        rule = self.rule
        if rule.severity_at_least is not None:
            candidates = _at_least(candidates, [e.severity for e in entries],
                                   rule.severity_at_least)
        if rule.http_status_at_least is not None:
            candidates = _at_least(candidates, [e.http_status for e in entries],
                                   rule.http_status_at_least)
        if self.fields:
            return [i for i in candidates if self.matches(entries[i], None)]
        if self.regex is None:
            return candidates
        search, ascii_search = self.regex.search, (self.ascii_regex or self.regex).search
        if self.width is None or not firsts:
            return [i for i in candidates
                    if (ascii_search if (m := messages[i]).isascii() else search)(m) is not None]
        # Sought from a position on, a regex still sees the text before it (\b, lookbehinds;
        # ^ matches at the start only): it finds what a search of the whole message finds.
        width = self.width
        return [i for i in candidates
                if (ascii_search if (m := messages[i]).isascii() else search)(
                    m, max(0, firsts.get(i, 0) - width)) is not None]

    def _regex_matches(self, message: str, lowered: str | None) -> bool:
        if self.regex is None:
            return True
        if (
            self.literals is not None
            and lowered is not None
            and not any(word in lowered for word in self.literals)
        ):
            return False  # the regex cannot match: each match holds one of these words
        return self.regex.search(message) is not None


def _at_least(among: list[int], values: list[Any], level: int) -> list[int]:
    """The indexes in `among` (ascending) whose value is set and at least `level`."""
    if len(among) == len(values):  # every entry: those without a value are dropped in C
        among = list(compress(range(len(values)), map(is_not, values, repeat(None))))
    return [i for i in among if (value := values[i]) is not None and value >= level]


def _field(entry: LogEntry, path: list[str]) -> str | None:
    """Looks up `labels.x`, `resource.labels.x`, `payload.a.b` or a top-level attribute."""
    head, rest = path[0], path[1:]
    node: Any
    if head == "resource" and rest[:1] == ["labels"]:
        node, rest = entry.resource_labels, rest[1:]
    elif head == "resource" and rest == ["type"]:
        return entry.resource_type
    elif head in ("labels", "payload"):
        node = getattr(entry, head)
    else:
        value = getattr(entry, head, None)
        return None if value is None else str(value.name if head == "severity" else value)
    for part in rest:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return None if node is None or isinstance(node, dict | list) else str(node)


class RuleState(msgspec.Struct):
    """Rules keep no memory between batches."""


class RuleDetector:
    """Fires a finding per rule whose matches in one batch reach its count and share."""

    name = "rules"
    state_type = RuleState

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules = [_CompiledRule(r) for r in rules]
        self._words = _automaton(w for c in self._rules for w in c.literals or ())

    def initial_state(self) -> RuleState:
        return RuleState()

    def rules_matching(self, entry: LogEntry) -> list[str]:
        """The names of the rules `entry` matches by itself (before counts and shares)."""
        lowered = _lowered(entry)
        return [c.rule.name for c in self._rules if c.matches(entry, lowered)]

    def detect(self, mined: MinedBatch, state: RuleState) -> tuple[list[Finding], RuleState]:
        total = len(mined.entries)
        findings = []
        entries = mined.entries
        texts = messages(mined)
        words = _BatchText(texts, self._words)
        for compiled in self._rules:
            sought = compiled.sought
            hits = compiled.hits(words.candidates(sought), entries, texts,
                                 words.firsts(sought))
            rule = compiled.rule
            if len(hits) >= rule.min_count and len(hits) >= rule.min_share * total:
                findings.append(_finding(rule, mined, hits, total))
        return findings, state


_SEPARATOR = "\x00"


class _Words:
    """Every rule's words in one Aho-Corasick automaton: the Rust aho-corasick crate's,
    which scans a batch's text in about a third of the time pyahocorasick took."""

    def __init__(self, words: tuple[str, ...]) -> None:
        self.words = words
        patterns = [w.encode() for w in words]
        self.automaton = ahocorasick_rs.BytesAhoCorasick(patterns)
        # Matches one at a time, leftmost first: a scan that skips ahead to where a word
        # may start, about five times as fast as finding every match (overlapping ones).
        self.skimmer = ahocorasick_rs.BytesAhoCorasick(
            patterns, matchkind=ahocorasick_rs.MatchKind.LeftmostFirst)

    def __reduce__(self) -> tuple[type[_Words], tuple[tuple[str, ...]]]:
        return _Words, (self.words,)  # the automaton itself does not pickle: built anew

    def found(self, text: bytes) -> list[tuple[str, int]]:
        """Each word found in `text` (overlapping ones too), with where it starts."""
        words = self.words
        return [(words[index], start) for index, start, _ in
                self.automaton.find_matches_as_indexes(text, overlapping=True)]

    def any_in(self, text: bytes) -> bool:
        """Whether `text` holds any of the words."""
        return bool(self.skimmer.find_matches_as_indexes(text))


def _automaton(words: Iterable[str]) -> _Words | None:
    """The rules' words that can be found in a batch's text; None when there are none."""
    kept = tuple(dict.fromkeys(w for w in words if _SEPARATOR not in w))
    return _Words(kept) if kept else None


class _BatchText:
    """A batch's lowercased ASCII messages as one text, in which one pass of the rules'
    automaton finds every rule's words (a C-level scan, instead of one per word)."""

    def __init__(self, messages: Sequence[str], words: _Words | None) -> None:
        self.size = len(messages)
        self.unfiltered: list[int] = []  # non-ASCII messages: every rule reads them
        # word -> the entries it is found in, and where it first starts in each
        self.holding: dict[str, dict[int, int]] = {}
        if words is None:
            return
        text = _SEPARATOR.join(messages)
        if not text.isascii():  # a non-ASCII message stands in the text as an empty one
            self.unfiltered = [i for i, m in enumerate(messages) if not m.isascii()]
            messages = [m if m.isascii() else "" for m in messages]
            text = _SEPARATOR.join(messages)
        # Lowercased in one call, not a message at a time: ASCII keeps every length.
        lowered = text.lower().encode("ascii")
        if not words.any_in(lowered):  # most batches: the entries' places are not needed
            return
        # Where each message starts in the text: after the ones before it and their separators.
        starts = list(accumulate(map(add, map(len, messages[:-1]), repeat(1)), initial=0))
        for word, start in words.found(lowered):
            entry = bisect_right(starts, start) - 1
            at = start - starts[entry]
            places = self.holding.setdefault(word, {})
            places[entry] = min(places.get(entry, at), at)

    def candidates(self, words: tuple[str, ...] | None) -> list[int]:
        """The entries that hold one of `words` (all entries when there are none)."""
        if words is None:
            return list(range(self.size))
        if not self.holding:  # most batches
            return list(self.unfiltered)
        found = set(self.unfiltered)
        for word in words:
            found.update(self.holding.get(word, ()))
        return sorted(found)

    def firsts(self, words: tuple[str, ...] | None) -> dict[int, int]:
        """Where the first of `words` starts in each entry holding one."""
        first: dict[int, int] = {}
        for word in words if self.holding and words else ():
            for entry, start in self.holding.get(word, {}).items():
                if start < first.get(entry, start + 1):
                    first[entry] = start
        return first


def _lowered(entry: LogEntry) -> str | None:
    message = entry.message
    return message.lower() if message.isascii() else None


def _finding(rule: Rule, mined: MinedBatch, hits: list[int], total: int) -> Finding:
    # More matches than the threshold make the finding surer, up to the rule's score.
    strength = min(1.0, 0.75 + 0.25 * len(hits) / (2 * rule.min_count))
    templates = tuple(dict.fromkeys(mined.template_ids[i] for i in hits))
    return Finding(
        detector=f"rules/{rule.name}",
        anomaly_type=rule.anomaly_type,
        score=round(rule.score * strength, 4),
        summary=(
            f"{len(hits)} of {total} entries ({len(hits) / total:.0%}) match rule "
            f"'{rule.name}' ({rule.description}); the rule fires at {rule.min_count}."
        ),
        evidence=Evidence(
            entry_ids=tuple(mined.entries[i].insert_id for i in hits[:EVIDENCE_LIMIT]),
            template_ids=templates[:EVIDENCE_LIMIT],
            numbers={"matches": len(hits), "entries": total, "min_count": rule.min_count},
        ),
    )
