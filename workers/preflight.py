"""Checks a command makes before it writes anything: a mistake in the settings or the
rules file stops it before a database file is created or a source is read."""

from __future__ import annotations

from pipeline.detectors.rules import load_rules
from workers.runtime import build_notifiers
from workers.settings import Settings


def check_run_settings(settings: Settings) -> None:
    """Raises ConfigError / RuleConfigError / OSError naming what is wrong."""
    build_notifiers(settings)
    if settings.rules_file is not None:
        load_rules(settings.rules_file)
