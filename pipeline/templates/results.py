"""What mining a line returns, and how a template is named."""

from __future__ import annotations

import hashlib
from enum import StrEnum

import msgspec


class TemplateChange(StrEnum):
    NONE = "none"
    CREATED = "created"
    GENERALIZED = "generalized"


class TemplateMatch(msgspec.Struct, frozen=True, gc=False):
    """The template a line was mined into; `previous_id` is set when it generalized.

    A Struct: one is built for every line mined, faster than a frozen dataclass.
    """

    template_id: str
    template: str
    change: TemplateChange
    previous_id: str | None = None


def template_id(text: str) -> str:
    """The id of a template text: the same in every process, run and version."""
    digest = hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8)
    return "t" + digest.hexdigest()
