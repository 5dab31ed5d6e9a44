"""Where a setting sits in a YAML config file, so an error can name its line.

The file is composed (not constructed) with the safe loader: its nodes keep the marks
of where each key and value starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml


def yaml_line(path: Path, loc: Sequence[str | int]) -> int | None:
    """The 1-based line of the deepest part of `loc` found in the YAML file at `path`
    (a misspelled key: the line of its parent); None when the file cannot be read."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeError, yaml.YAMLError):
        return None
    line = None
    for part in loc:
        found = _child(node, part)
        if found is None:
            break
        line, node = found
    return line


def _child(node: yaml.Node | None, part: str | int) -> tuple[int, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key.start_mark.line + 1, value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item = node.value[part]
        return item.start_mark.line + 1, item
    return None
