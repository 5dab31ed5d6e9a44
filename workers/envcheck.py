"""LOGWARDEN_* variables that no setting reads: a typo is said, with the closest known name."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping

import pydantic

PREFIX = "LOGWARDEN_"
# Read outside the settings object: by the settings loader itself, and by the test suite.
OTHER_NAMES = ("LOGWARDEN_CONFIG_FILE", "LOGWARDEN_TEST_POSTGRES")


def known_names(model: type[pydantic.BaseModel], prefix: str = PREFIX) -> Iterator[str]:
    """Every variable a settings model reads: one per field, nested models with `__`."""
    for name, field in model.model_fields.items():
        full = f"{prefix}{name.upper()}"
        yield full
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
            yield from known_names(annotation, f"{full}__")


def unknown_variables(
    environ: Mapping[str, str], model: type[pydantic.BaseModel]
) -> list[tuple[str, str | None]]:
    """Each LOGWARDEN_* variable in `environ` that `model` does not read, with the closest
    known name (or None when nothing is close)."""
    known = [*known_names(model), *OTHER_NAMES]
    # A dict setting may also be given key by key (LOGWARDEN_STREAM_SENSITIVITY__api=0.5).
    prefixes = tuple(f"{name}__" for name in known)
    found = []
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name in known or name.upper().startswith(prefixes):
            continue
        if name.upper() in known:  # the environment is case-insensitive for pydantic-settings
            continue
        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.75)
        found.append((name, close[0] if close else None))
    return found


def warnings_for(environ: Mapping[str, str], model: type[pydantic.BaseModel]) -> list[str]:
    """One line per unknown variable, for stderr."""
    lines = []
    for name, close in unknown_variables(environ, model):
        hint = f"; did you mean {close}?" if close else ""
        lines.append(f"logwarden: warning: {name} is not a Logwarden setting, ignored{hint}")
    return lines
