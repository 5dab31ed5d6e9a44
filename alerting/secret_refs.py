"""Secrets in a settings file by reference: `env:NAME` or `file:PATH` instead of the value,
so the file (routes and receivers, often in a ConfigMap) need hold no secret."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr


def resolve_secret(value: Any) -> Any:
    """`env:NAME` is the value of environment variable NAME, `file:PATH` a file's content
    (a mounted Kubernetes secret), so the settings file itself need hold no secret."""
    if not isinstance(value, str):
        return value
    if value.startswith("env:"):
        name = value.removeprefix("env:")
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]
    if value.startswith("file:"):
        path = Path(value.removeprefix("file:"))
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ValueError(f"cannot read the secret file {path}: {error.strerror}") from None
    return value


# A secret given inline, or as `env:NAME` or `file:PATH`.
Secret = Annotated[SecretStr, BeforeValidator(resolve_secret)]
