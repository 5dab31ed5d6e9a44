"""The rules' literal prefilter changes no hit: every Loghub line, and failure phrases in
odd cases and next to non-ASCII text, match the same rules as the plain regexes say."""

from __future__ import annotations

import pickle
import random
import re

from pipeline.detectors.literals import ascii_twin, required_literals
from pipeline.detectors.rules import Rule, RuleDetector, _automaton, _BatchText, load_rules
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
        holding = {i: m.lower().find(word) for i, m in enumerate(messages)
                   if m.isascii() and word in m.lower()}
        assert text.holding.get(word, {}) == holding, word
        assert text.candidates((word,)) == sorted(holding.keys() | set(text.unfiltered))
    for pair in (words[:2], words[2:5], words):
        at = [[p for w in pair if (p := m.lower().find(w)) >= 0] for m in messages]
        firsts = {i: min(at[i]) for i, m in enumerate(messages) if m.isascii() and at[i]}
        assert text.firsts(pair) == firsts, pair


def test_a_literal_holding_the_separator_is_not_sought_and_its_rule_reads_every_entry() -> None:
    rule = Rule(name="nul", anomaly_type="t", description="d", regex=r"(?i)disk\x00full",
                min_count=1)
    detector = RuleDetector([rule])
    assert detector._rules[0].literals == ("disk\x00full",)
    assert detector._rules[0].sought is None
    batch = mined([entry("DISK\x00FULL"), entry("disk full", n=1), entry("é disk\x00full", n=2)])
    findings, _ = detector.detect(batch, detector.initial_state())
    assert findings[0].evidence.numbers["matches"] == 2


# Patterns whose ASCII form must match ASCII text as they do: case, classes, word edges,
# ranges, lookarounds, back references and the rule pack's own.
TWINNED = [
    r"(?i)\bfailed password\b", r"(?i)[a-z]+_\d{2,}", r"(?i)(ab|AC)\1", r"\w+\W\d\D",
    r"(?i)[^a-f]x", r"(?i)(?<!k)ey(?=s)", r"\bK\b", r"(?i)[Z-a]+", r"[\x00-\x7f]{3}",
    r"(?i)(?P<x>k)(?P=x)", r"(?a)\w+", r"^(?i:k)\B.$", r"(?i)\N{LATIN SMALL LETTER K}",
    r"(?i)x(?u:\w)",
    *[r.regex for r in load_rules() if r.regex and r.name != "disk-full"],
]
# Those whose ASCII form may not: a letter past ASCII folds to an ASCII one ("\u212a", the
# Kelvin sign, to "k"; "\u017f", the long s, to "s"), \s holds \x1c-\x1f in Unicode only.
NOT_TWINNED = [r"(?i)\u212a", "(?i)\u017f", r"(?i)[\u0100-\u017f]", r"a\sb", r"[^\S]",
               r"(?u)x", "é", r"(?i)[^\u212a]", r"["]


def test_an_ascii_twin_matches_ascii_text_as_its_pattern_does() -> None:
    rng = random.Random(4)
    alphabet = "".join(map(chr, range(128)))
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(2000)]
    letters = "kKsSxyzabcefsAB_ 0123\x1c\x1f-:"
    texts += ["".join(rng.choice(letters) for _ in range(rng.randrange(12))) for _ in range(3000)]
    texts += [line for line in _lines() if line.isascii()][:3000]
    for pattern in TWINNED:
        twin, plain = ascii_twin(pattern), re.compile(pattern)
        assert twin is not None, pattern
        for text in texts:
            got, expected = twin.search(text), plain.search(text)
            assert (got and (got.span(), got.groups())) == (
                expected and (expected.span(), expected.groups())), (pattern, text)
    for pattern in NOT_TWINNED:
        assert ascii_twin(pattern) is None, pattern


def test_a_rules_hits_are_the_entries_it_matches() -> None:
    """`hits` tests a rule's conditions apart (the severity and status of every entry at
    once); it keeps the entries `matches` keeps, in order, among any candidates."""
    rng = random.Random(6)
    rules = [Rule(name=f"r{i}", anomaly_type="t", description="d", **conditions)
             for i, conditions in enumerate([
                 {"regex": r"(?i)\bfail(ed)?\b"},
                 {"regex": r"(?i)\bstop\b|kill"},  # "\u017ftop" and "\u212aill" match too
                 {"http_status_at_least": 500},
                 {"severity_at_least": Severity.ERROR},
                 {"severity_at_least": Severity.WARNING, "http_status_at_least": 400,
                  "regex": "(?i)timeout"},
                 {"fields": {"labels.env": "^prod$"}, "regex": "fail"},
                 {"fields": {"labels.env": "prod"}, "severity_at_least": Severity.ERROR},
                 {},
             ])]
    words = ["fail", "FAILED", "failure", "stop", "kill", "timeout", "x", "é", "\u017ftop",
             "\u212aill"]
    for _ in range(30):
        entries = [
            entry(" ".join(rng.choices(words, k=rng.randrange(4))), n=i,
                  severity=rng.choice(list(Severity)),
                  http_status=rng.choice([None, None, 200, 404, 500, 503]),
                  labels=rng.choice([{}, {"env": "prod"}, {"env": "dev"}]))
            for i in range(rng.randrange(1, 40))
        ]
        messages = [e.message for e in entries]
        for rule in rules:
            compiled = RuleDetector([rule])._rules[0]
            everything = list(range(len(entries)))
            for candidates in (everything, sorted(rng.sample(everything, len(everything) // 2))):
                expected = [i for i in candidates if compiled.matches(entries[i], None)]
                assert compiled.hits(list(candidates), entries, messages) == expected, rule


def test_a_text_holds_a_word_when_any_word_is_found_in_it() -> None:
    """The one-match-at-a-time scan says a text holds a word exactly when the search for
    every (overlapping) match finds one: words inside, across and at the ends of others."""
    words = _automaton(("disk ", " is full", "disk is", "oom", "oomkilled", "killed", "k"))
    assert words is not None
    rng = random.Random(3)
    pieces = ["dis", "k ", "is full", " is", "oomk", "illed", "x", "\x00", "o", "m"]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(5))).encode()
        assert words.any_in(text) == bool(words.found(text)), text


def test_a_regex_sought_from_near_its_first_literal_finds_what_a_whole_search_finds() -> None:
    """A match holds a literal, so it starts at most its widest span before the first one:
    sought from there, word edges, anchors and lookbehinds still see the text before."""
    patterns = [r"(?i)\bdisk \w{0,6} is full\b", r"(?<=id=)\d{1,4} failed", r"^\w{1,3} timed out",
                r"(?i)(?<!no )quota exceeded", r"\b[a-z]{2} (oom|killed)\b", r"(?i)x{0,30}abort",
                r"(?<=code=\d{3} )failed"]
    every_hit = {"anomaly_type": "t", "description": "d", "min_count": 1}
    rules = [Rule(name=f"r{i}", regex=p, **every_hit) for i, p in enumerate(patterns)]
    detector = RuleDetector(rules)
    assert all(c.width is not None for c in detector._rules)
    rng = random.Random(11)
    pieces = ["disk ", "sda1 ", " is full", "id=", "42", " failed", "ab", " timed out", "no ",
              "quota exceeded", "QUOTA EXCEEDED", " oom", " killed", "xxxxxxxx", "abort", " ",
              "é", "code=", "500 ", "failed"]
    fired: set[str] = set()
    for start in range(0, 4000, 200):
        messages = ["".join(rng.choice(pieces) for _ in range(rng.randrange(8)))
                    for _ in range(200)]
        batch = mined([entry(m, n=start + i) for i, m in enumerate(messages)])
        findings, _ = detector.detect(batch, detector.initial_state())
        got = {f.detector: f.evidence.numbers["matches"] for f in findings}
        expected = {f"rules/{r.name}": n for r in rules
                    if (n := sum(bool(re.search(r.regex or "", m)) for m in messages))}
        assert got == expected
        fired |= got.keys()
    assert len(fired) == len(rules)
