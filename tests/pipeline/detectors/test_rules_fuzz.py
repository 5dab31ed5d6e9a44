"""Hypothesis properties of the rules file: whatever a user writes in it, loading gives
rules or a RuleConfigError that names the file; never another exception."""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from pipeline.detectors.rules import _PACK_LOADER, Rule, RuleConfigError, load_rules
from tests.fuzzing import FEW, JSON_VALUES, mutated_bytes

RULEPACK = resources.files("pipeline.detectors").joinpath("rulepack.yaml").read_bytes()
GOOD_RULE: dict[str, Any] = {
    "name": "payment-declines", "anomaly_type": "payment_failure",
    "description": "card payments are declined", "regex": "(?i)payment (declined|failed)",
    "fields": {"labels.env": "^prod$"}, "min_count": 5, "min_share": 0.05, "score": 0.8,
    "severity_at_least": "warning", "http_status_at_least": 500, "enabled": True,
}
REGEXES = st.sampled_from(["(", "a{99999999999}", "(?P<x>a)(?P<x>b)", "\\", "[z-a]",
                           "(?i)ok", "a" * 300, "(?<=a+)b", "\\p{L}", "(?x) # c"])


@st.composite
def rule_documents(draw: st.DrawFn) -> bytes:
    """A rules file: a good rule with some fields given odd values, odd regexes or unknown
    keys; the document itself sometimes of the wrong shape."""
    rule = dict(GOOD_RULE)
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted({*GOOD_RULE, "unknown"})))
        rule[key] = draw(st.one_of(JSON_VALUES, REGEXES))
    document: Any = draw(st.sampled_from([{"rules": [rule]}, {"rules": rule}, [rule],
                                          {"rules": [rule, rule]}, {"rules": None}]))
    return yaml.safe_dump(document, allow_unicode=True).encode()


RULE_FILES = st.one_of(rule_documents(), mutated_bytes(RULEPACK),
                       st.builds(lambda d: yaml.safe_dump(d).encode(), JSON_VALUES),
                       st.binary(max_size=200), st.text(max_size=200).map(str.encode))


@FEW
@given(RULE_FILES)
def test_a_rules_file_gives_rules_or_a_clear_error(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.yaml"
        path.write_bytes(content)
        try:
            rules = load_rules(path, builtin=False)  # the pack is the same every time
        except RuleConfigError as error:
            assert str(path) in str(error)
            return
    assert all(isinstance(rule, Rule) for rule in rules)


def test_the_good_rule_loads() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.yaml"
        path.write_text(yaml.safe_dump({"rules": [GOOD_RULE]}))
        assert "payment-declines" in {rule.name for rule in load_rules(path)}


def test_the_built_in_pack_is_the_same_whichever_reader_reads_it() -> None:
    """The pack is read by libyaml where PyYAML has it; the pure-Python reader, which
    reads a user's file, finds the same rules in it."""
    pure = yaml.safe_load(RULEPACK)
    assert yaml.load(RULEPACK, Loader=_PACK_LOADER) == pure
    assert load_rules() == [r for r in map(Rule.model_validate, pure["rules"]) if r.enabled]
