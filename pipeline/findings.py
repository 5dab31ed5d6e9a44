"""Finding: what one detector says about one batch."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a finding was raised: the entries, templates and numbers behind it."""

    entry_ids: tuple[str, ...] = ()
    template_ids: tuple[str, ...] = ()
    numbers: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finding:
    """A detector's claim: `score` in [0, 1], `summary` one plain-English sentence."""

    detector: str
    anomaly_type: str
    score: float
    summary: str
    evidence: Evidence = Evidence()

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"finding score {self.score} outside [0, 1]")


def duration_text(seconds: float) -> str:
    """ "41 seconds", "17 minutes", "2.5 hours": how long, the way people say it."""
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"
