"""Masking's shortcuts change nothing: a rule's gate is a part every match of it holds,
and the digit check made again after each rule only skips rules that would find no
digit. Masked with every shortcut or with none, each line comes out the same."""

from __future__ import annotations

import pytest

from pipeline.templates.masking import _REPEATED_MASK, DRAIN_WILDCARD, LogMasker, default_rules
from tests.pipeline import loghub

SHAPES = [
    "fe80::1ff:fe23:4567:890a%eth0 up", "addr 2001:db8:0:0:0:0:2:1 ok", "at Jun 14 15:16:01",
    "ts 2024-06-14T15:16:01.123Z x", "on 2024/6/14 now", "took 19.05 seconds", "sent 42 bytes",
    "id 0x1F and deadbeef42", "job_7_b core.2275 an14", "host db-1.example.com:5432 up",
    "id 123e4567-e89b-12d3-a456-426614174000 x", "path a/b/c here", "n -5 and x-42",
    "to www.example.org now", "size 12 MB (12.5 MiB)", "wait 5ms", "(10.0.0.1) ()",
]


def _mask_without_shortcuts(message: str, words_with_numbers: bool) -> str:
    """Every rule's regex on the whole line, with only its `needs` word checked."""
    text = message.replace(DRAIN_WILDCARD, "<?>")
    for rule in default_rules(words_with_numbers):
        if not rule.needs or rule.needs in text:
            text = rule.pattern.sub(rule.replacement, text)
    return _REPEATED_MASK.sub(r"\1", text) if ",<" in text else text


@pytest.mark.parametrize("words_with_numbers", [True, False])
def test_no_loghub_line_masks_otherwise_for_the_shortcuts(words_with_numbers: bool) -> None:
    masker = LogMasker(default_rules(words_with_numbers))
    lines = [m for log in loghub.load_all() for m in log.messages] + SHAPES
    lines += [m.replace("1", "7").replace("0", "00") for m in lines]  # other numbers
    plain = [_mask_without_shortcuts(line, words_with_numbers) for line in lines]
    differ = [(x, masker.mask(x), y) for x, y in zip(lines, plain, strict=True)
              if masker.mask(x) != y]
    assert not differ, differ[:3]


def test_every_shape_a_gate_guards_is_still_masked() -> None:
    masker = LogMasker(default_rules())
    for line in SHAPES:
        assert masker.mask(line) != line, line
