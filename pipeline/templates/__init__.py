"""Log template mining: masking, Drain3 behind typed results, ids stable across workers."""

from pipeline.templates.masking import LogMasker, MaskRule
from pipeline.templates.miner import TemplateMiner
from pipeline.templates.results import TemplateChange, TemplateMatch, template_id
from pipeline.templates.settings import DEFAULT_SETTINGS, MiningSettings
from pipeline.templates.snapshot import SnapshotError
from pipeline.templates.table import TemplateStats

__all__ = [
    "DEFAULT_SETTINGS",
    "LogMasker",
    "MaskRule",
    "MiningSettings",
    "SnapshotError",
    "TemplateChange",
    "TemplateMatch",
    "TemplateMiner",
    "TemplateStats",
    "template_id",
]
