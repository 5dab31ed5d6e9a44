"""The one Drain configuration every stream uses, and its translation for Drain3.

Drain3 reads `drain3.ini` from the working directory when handed no config; here the
config is always built in code and `TemplateMinerConfig.load` is never called.
"""

from __future__ import annotations

from dataclasses import dataclass

from drain3.template_miner_config import TemplateMinerConfig

from pipeline.templates.masking import MASKING_VERSION


@dataclass(frozen=True, slots=True)
class MiningSettings:
    """Drain's knobs, tuned once for all 14 Loghub systems (see the accuracy test).

    - `similarity`: share of a template's fixed tokens a line must repeat to join it.
      At 0.87 a one-token difference splits lines of up to 7 tokens ("open through
      proxy <HOST> HTTPS" vs "... SOCKS5") and merges longer ones; masking, not
      Drain's wildcards, carries most of the generalization.
    - `depth`: Drain's tree depth; 5 routes lines by their length and first 3 tokens
      (4 merged HTTP methods, 6 split on variable third tokens).
    - `max_message_chars`: only this much of a line shapes its template, which bounds
      the cost of a huge line.
    """

    similarity: float = 0.87
    depth: int = 5
    max_children: int = 100
    extra_delimiters: tuple[str, ...] = ()
    max_message_chars: int = 4096

    def fingerprint(self) -> str:
        """Names everything a snapshot depends on: a change makes old snapshots unusable."""
        delimiters = ",".join(self.extra_delimiters)
        return (
            f"sim={self.similarity};depth={self.depth};children={self.max_children};"
            f"delimiters={delimiters};chars={self.max_message_chars};masking={MASKING_VERSION}"
        )


DEFAULT_SETTINGS = MiningSettings()


def drain3_config(settings: MiningSettings, max_clusters: int) -> TemplateMinerConfig:
    """A Drain3 config with our settings, no profiling and no masking of its own."""
    config = TemplateMinerConfig()
    config.profiling_enabled = False
    config.drain_sim_th = settings.similarity
    config.drain_depth = settings.depth
    config.drain_max_children = settings.max_children
    config.drain_max_clusters = max_clusters
    config.drain_extra_delimiters = list(settings.extra_delimiters)
    config.masking_instructions = []  # pipeline.templates.masking runs before Drain
    config.parametrize_numeric_tokens = True
    return config
