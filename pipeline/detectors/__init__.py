"""Detectors: pure functions of a mined batch and their own state."""

from __future__ import annotations

from pathlib import Path

from pipeline.detectors.base import AnyDetector
from pipeline.detectors.error_share import ErrorShareDetector
from pipeline.detectors.http import HttpDetector
from pipeline.detectors.learned import LearnedDetector
from pipeline.detectors.new_template import NewTemplateDetector
from pipeline.detectors.parameters import ParameterDetector
from pipeline.detectors.rules import RuleDetector, load_rules
from pipeline.detectors.series import NumericSeriesDetector
from pipeline.detectors.silence import SilenceDetector
from pipeline.detectors.template_rate import TemplateRateDetector
from pipeline.detectors.volume import VolumeDetector


def default_detectors(rules_file: Path | None = None) -> list[AnyDetector]:
    """The detectors every stream runs, in order."""
    return [
        RuleDetector(load_rules(rules_file)),
        ErrorShareDetector(),
        NewTemplateDetector(),
        VolumeDetector(),
        SilenceDetector(),
        TemplateRateDetector(),
        HttpDetector(),
        ParameterDetector(),
        NumericSeriesDetector(),
        LearnedDetector(),
    ]
