"""The rules' literal prefilter changes no hit: every Loghub line, and failure phrases in
odd cases and next to non-ASCII text, match the same rules as the plain regexes say."""

from __future__ import annotations

import pickle
import random
import re

from pipeline.detectors.literals import required_literals
from pipeline.detectors.rules import RuleDetector, _automaton, _BatchText, load_rules
from pipeline.entry import LogEntry, Severity
from tests.pipeline.detectors.factory import entry, mined
from tests.pipeline.detectors.test_rulepack_loghub import FAILING
from tests.pipeline.loghub import structured_files


def _lines() -> list[str]:
    lines = []
    for structured in structured_files():
        raw = structured.with_name(structured.name.replace("_structured.csv", ""))
        lines += raw.read_text(encoding="utf-8", errors="replace").splitlines()
    phrases = [p for group in FAILING.values() for p in group]
    # Case and Unicode folding: long s and the Kelvin sign match "s" and "k" when case is ignored.
    odd = [p.upper() for p in phrases] + [p.swapcase() for p in phrases]
    odd += ["é " + p.replace("s", "\u017f").replace("k", "\u212a") for p in phrases]
    return lines + phrases + odd


def test_prefiltered_rules_hit_exactly_what_the_plain_regexes_hit() -> None:
    rules = load_rules()
    detector = RuleDetector(rules)
    plain = [(r.name, re.compile(r.regex)) for r in rules if r.regex]
    hits = 0
    for i, line in enumerate(_lines()):
        entry = LogEntry(insert_id=str(i), timestamp_ns=i, severity=Severity.INFO, message=line)
        expected = [name for name, rx in plain if rx.search(line)]
        assert detector.rules_matching(entry) == expected, line
        hits += bool(expected)
    assert len(_lines()) > 28_000 and hits > 100


def test_every_built_in_regex_has_a_prefilter() -> None:
    for rule in load_rules():
        if rule.regex:
            literals = required_literals(rule.regex)
            assert literals and all(len(w) >= 4 for w in literals), rule.name


def test_patterns_without_a_required_literal_get_no_prefilter() -> None:
    assert required_literals(r"(?i)\d+|timeout") is None
    assert required_literals(r"a.b") is None
    assert required_literals(r"[") is None
    assert required_literals(r"(?i)(conn(ection)? refused|ECONNREFUSED)") == (
        " refused", "econnrefused")


def test_a_batch_finds_the_entries_the_plain_regexes_find() -> None:
    every_hit = {"min_count": 1, "min_share": 0.0}
    rules = [r.model_copy(update=every_hit) for r in load_rules() if r.regex]
    detector = RuleDetector(rules)
    plain = {f"rules/{r.name}": re.compile(r.regex or "") for r in rules}
    lines = _lines()
    fired = 0
    for start in range(0, len(lines), 500):
        chunk = lines[start : start + 500]
        batch = mined([entry(m, n=start + i) for i, m in enumerate(chunk)])
        findings, _ = detector.detect(batch, detector.initial_state())
        got = {f.detector: (f.evidence.numbers["matches"], f.evidence.entry_ids) for f in findings}
        expected = {}
        for name, rx in plain.items():
            hits = [e.insert_id for e in batch.entries if rx.search(e.message)]
            if hits:
                expected[name] = (len(hits), tuple(hits[:20]))
        assert got == expected, start
        fired += len(got)
    assert fired > 20


def test_a_batch_text_finds_each_word_where_each_message_holds_it() -> None:
    """Words inside, overlapping and next to one another, at a message's ends, in odd
    case, and messages that are not ASCII (which every rule then reads)."""
    words = ("disk ", " is full", "quota exceeded", "exceeded ", "oom", "oomkilled")
    rng = random.Random(8)
    pieces = ["Disk is full", "quota exceeded ", "OOMKilled", "oom", "é", "x", " ", "diskis full"]
    messages = ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 4)))
                for _ in range(300)]
    automaton = pickle.loads(pickle.dumps(_automaton(words)))  # a detector may be pickled
    text = _BatchText(messages, automaton)
    assert text.unfiltered == [i for i, m in enumerate(messages) if not m.isascii()]
    for word in words:
        holding = {i for i, m in enumerate(messages) if m.isascii() and word in m.lower()}
        assert text.holding.get(word, set()) == holding, word
        assert text.candidates((word,)) == sorted(holding | set(text.unfiltered))
