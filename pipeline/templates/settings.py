"""The one Drain configuration every stream uses, and the Drain that it builds.

The values are chosen by leave-one-system-out over the 14 Loghub systems
(`python -m tests.benchmarks.grouping`): for each system, the candidate that groups
the other 13 best, held to no system below stock Drain3, is scored on the one left out.
Drain3 reads `drain3.ini` from the working directory when handed no config; here the
Drain is always built in code.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.templates.drain import ParameterDrain
from pipeline.templates.masking import MASKING_VERSION


@dataclass(frozen=True, slots=True)
class MiningSettings:
    """Drain's knobs, the same for every system (see BENCHMARKS.md, grouping).

    - `similarity`: share of a template's tokens (wildcards count) a line must repeat
      to join it. Masking, not a low threshold, carries most of the generalization;
      a high one keeps events that differ in one word apart.
    - `depth`: Drain's tree depth; 5 routes lines by their length and first 2 tokens.
    - `variable_after`: a token position becomes `<*>` once this many templates would
      differ there alone (see `pipeline.templates.drain`); 0 turns it off.
    - `words_with_numbers`: mask a word holding a number (`core.2275`) as `<ID>`.
    - `max_message_chars`: only this much of a line shapes its template, which bounds
      the cost of a huge line.
    - `leaf_limit`: templates in one leaf of Drain's tree at most (same length, same
      first tokens); past it a line widens the template it is most like (see
      `pipeline.templates.drain`). It bounds what mining a line costs; on the 14 Loghub
      systems no leaf holds a third of it. Not in the fingerprint: a tree grown without
      it stays valid.
    """

    similarity: float = 0.87
    depth: int = 5
    max_children: int = 100
    variable_after: int = 6
    words_with_numbers: bool = True
    extra_delimiters: tuple[str, ...] = ()
    max_message_chars: int = 4096
    leaf_limit: int = 100

    def fingerprint(self) -> str:
        """Names everything a snapshot depends on: a change makes old snapshots unusable."""
        delimiters = ",".join(self.extra_delimiters)
        return (
            f"sim={self.similarity};depth={self.depth};children={self.max_children};"
            f"variable_after={self.variable_after};words={self.words_with_numbers};"
            f"delimiters={delimiters};"
            f"chars={self.max_message_chars};masking={MASKING_VERSION}"
        )


DEFAULT_SETTINGS = MiningSettings()


def build_drain(settings: MiningSettings, max_clusters: int) -> ParameterDrain:
    """A Drain with our settings, no profiling and no masking of its own."""
    return ParameterDrain(
        variable_after=settings.variable_after,
        leaf_limit=settings.leaf_limit,
        depth=settings.depth,
        sim_th=settings.similarity,
        max_children=settings.max_children,
        max_clusters=max_clusters,
        extra_delimiters=settings.extra_delimiters,
        parametrize_numeric_tokens=True,
    )
