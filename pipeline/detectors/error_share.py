"""Error share: more lines at ERROR or worse than this stream's own rate explains.

The stream's error rate is learned over lines (not batches), so a batch of 20 lines is
judged as surely as one of 500: the question is how unlikely this many errors are among
this many lines, at the highest rate the stream's history allows (a binomial tail). A
stream seen for only a few lines has a wide allowance, so it needs much stronger
evidence; errors that keep coming over consecutive batches add up. Errors that come in
clumps are not independent lines: the stream's dispersion (how much its per-batch error
counts vary beyond what independent lines would give) divides the evidence, and an
unseen stream is assumed clumpy until its batches show otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import msgspec

from pipeline.detectors.base import MinedBatch, severity_counts
from pipeline.detectors.small_stats import quantile
from pipeline.detectors.sustain import Sustain, ramp
from pipeline.findings import Evidence, Finding


class Run(msgspec.Struct, frozen=True, array_like=True):
    """Consecutive batches above the usual rate, held back from learning until it is
    known whether they were an incident."""

    errors: int = 0
    lines: int = 0
    batches: int = 0
    chi2: float = 0.0
    shares: list[float] = []
    fired: bool = False


class ErrorShareState(msgspec.Struct):
    errors: float = 0.0  # error lines of normal batches, decayed by age in lines
    lines: float = 0.0  # lines of normal batches, decayed alike
    batches: int = 0
    recent: list[float] = []  # the shares of recent batches (of a run once it ended)
    chi2: float = 0.0  # Pearson residuals of normal batches' error counts, decayed...
    df: float = 0.0  # ...over this many batches
    run: Run = Run()
    peaks: list[float] = []  # the highest share of each recent run that fired


@dataclass(frozen=True, slots=True)
class ErrorShareDetector:
    """Fires when a batch's errors (with the run they belong to) are past what chance at
    the stream's usual rate explains: -log10 of their binomial tail >= `min_surprise`."""

    min_surprise: float = 3.0  # one in a thousand
    min_errors: int = 3  # two odd lines are not yet a burst, wherever they fall
    prior_errors: float = 0.5  # before any history: about 2 % of lines are errors...
    prior_lines: float = 25.0  # ...and that guess weighs as much as 25 lines
    confidence_z: float = 1.645  # judge against the rate's upper 95 % bound
    prior_dispersion: float = 3.0  # an unseen stream's errors are assumed clumpy...
    prior_batches: float = 10.0  # ...until about this many batches show how they come
    dispersion_decay: float = 0.995  # per batch
    fired_residual: float = 25.0
    recurring: int = 2  # earlier fired runs at least as high make a clump the norm
    peaks_kept: int = 8
    half_life_lines: float = 20000.0
    history: int = 240
    usual_high_quantile: float = 0.99
    min_history: int = 30
    sustain: Sustain = field(default_factory=Sustain)
    name: str = "error_share"
    state_type: type = ErrorShareState

    def initial_state(self) -> ErrorShareState:
        return ErrorShareState()

    def usual_rate(self, state: ErrorShareState) -> float:
        """The highest error rate per line this stream's history leaves plausible."""
        errors = state.errors + self.prior_errors
        lines = state.lines + self.prior_lines
        scale = self.dispersion(state)
        return wilson_upper_bound(errors / scale, lines / scale, self.confidence_z)

    def dispersion(self, state: ErrorShareState) -> float:
        """How many lines' worth of evidence one error line is worth here, inverted: 1 for
        independent lines, more for errors that come in clumps."""
        chi2 = state.chi2 + self.prior_dispersion * self.prior_batches
        df = state.df + self.prior_batches
        # The estimate is noisy (a chi-square over df): take what it surely shows.
        return max(1.0, chi2 / df - 2.0 * math.sqrt(2.0 / df))

    def _point_rate(self, state: ErrorShareState) -> float:
        return (state.errors + self.prior_errors) / (state.lines + self.prior_lines)

    def detect(
        self, mined: MinedBatch, state: ErrorShareState
    ) -> tuple[list[Finding], ErrorShareState]:
        entries = mined.entries
        if not entries:
            return [], state
        errors = sum(c for s, c in severity_counts(mined).items() if s.is_error)
        lines = len(entries)
        usual, scale = self.usual_rate(state), self.dispersion(state)
        p = self._point_rate(state)
        residual = min((errors - lines * p) ** 2 / max(lines * p * (1 - p), 1e-9), 1e3)
        if not (errors >= 1 and errors / lines > max(usual, self._usual_high(state))) or (
            self._recurring(state, errors / lines)
        ):
            # The run before (if any) ends: learned unless it was an incident.
            done = self._learn_run(state)
            return [], self._learn(done, errors, lines, residual, 1.0)
        old = state.run
        run = Run(old.errors + errors, old.lines + lines, old.batches + 1,
                  old.chi2 + residual, [*old.shares, errors / lines], old.fired)  # fmt: skip
        surprise = binomial_surprise(run.errors / scale, run.lines / scale, usual)
        fires = run.errors >= self.min_errors and surprise >= self.min_surprise
        run = msgspec.structs.replace(run, fired=run.fired or fires)
        # A level that holds for long is slowly taken as the new normal.
        weight = self.sustain.learning_weight(run.batches if run.fired else 0)
        learned = msgspec.structs.replace(state, run=run)
        if run.fired and weight > 0:
            learned = self._learn(learned, errors, lines, residual, weight)
        if not fires:
            return [], learned
        raw = ramp(surprise, self.min_surprise, 3 * self.min_surprise)
        mask = [e.severity.is_error for e in entries]
        finding = Finding(
            detector=self.name,
            anomaly_type="error_burst",
            score=self.sustain.score(raw, run.batches) if run.batches > 1 else raw,
            summary=self._sentence(errors, lines, run.errors, run.lines, usual),
            evidence=Evidence(
                entry_ids=tuple(e.insert_id for e, m in zip(entries, mask, strict=True) if m)[:20],
                template_ids=_top_templates(mined, mask),
                numbers={
                    "errors": errors,
                    "entries": lines,
                    "share": errors / lines,
                    "run_errors": run.errors,
                    "run_entries": run.lines,
                    "usual_rate": round(usual, 5),
                    "surprise": round(surprise, 2),
                    "dispersion": round(scale, 2),
                    "lines_seen": round(state.lines),
                },
            ),
        )
        return [finding], learned

    def _sentence(self, errors: int, lines: int, run_e: int, run_n: int, usual: float) -> str:
        run = f" ({run_e} of {run_n} over the last batches)" if run_n > lines else ""
        return (
            f"{errors} of {lines} entries ({errors / lines:.0%}) are errors{run}; at this "
            f"stream's usual rate (at most {usual:.1%} of lines) so many are "
            "unlikely to be chance."
        )

    def _recurring(self, state: ErrorShareState, share: float) -> bool:
        """Clumps this high have fired `recurring` times already: how this stream is."""
        return sum(peak >= share for peak in state.peaks) >= self.recurring

    def _usual_high(self, state: ErrorShareState) -> float:
        """A share this stream reaches in more than one batch in a hundred is its normal."""
        if len(state.recent) < self.min_history:
            return 0.0
        return quantile(state.recent, self.usual_high_quantile)

    def _learn(
        self, state: ErrorShareState, errors: int, lines: int, residual: float, weight: float
    ) -> ErrorShareState:
        decay = 0.5 ** (lines / self.half_life_lines)
        keep = self.dispersion_decay
        recent = [*state.recent, round(errors / lines, 4)][-self.history :]
        return ErrorShareState(
            errors=state.errors * decay + weight * errors,
            lines=state.lines * decay + weight * lines,
            batches=state.batches + 1,
            recent=recent if weight >= 1.0 else state.recent,
            chi2=state.chi2 * keep + weight * residual,
            df=state.df * keep + weight,
            run=Run() if weight >= 1.0 else state.run,
            peaks=state.peaks,
        )

    def _learn_run(self, state: ErrorShareState) -> ErrorShareState:
        """A run that never fired was this stream's own clumping: learned whole. One that
        fired teaches only that this stream's errors come in clumps: its rate is not
        learned, each batch adds at most `fired_residual` to the dispersion, and its shares
        join the recent ones, so a clump that keeps coming (more often than one batch in a
        hundred) stops being news."""
        run = state.run
        if run.batches == 0:
            return state
        keep = self.dispersion_decay**run.batches
        if run.fired:
            chi2 = min(run.chi2, self.fired_residual * run.batches)
            recent = [*state.recent, *run.shares][-self.history :]
            peaks = [*state.peaks, max(run.shares)][-self.peaks_kept :]
            return msgspec.structs.replace(
                state, chi2=state.chi2 * keep + chi2, df=state.df * keep + run.batches,
                recent=recent, run=Run(), peaks=peaks,
            )  # fmt: skip
        decay = 0.5 ** (run.lines / self.half_life_lines)
        return ErrorShareState(
            errors=state.errors * decay + run.errors,
            lines=state.lines * decay + run.lines,
            batches=state.batches + run.batches,
            recent=[*state.recent, *run.shares][-self.history :],
            chi2=state.chi2 * keep + run.chi2,
            df=state.df * keep + run.batches,
            peaks=state.peaks,
        )


def binomial_surprise(successes: float, trials: float, p: float, cap: float = 50.0) -> float:
    """-log10 P(X >= successes) for X ~ Binomial(trials, p): 3 means one in a thousand.

    Counts scaled down for clumping need not be whole: the sum runs from `successes` in
    steps of one, through the binomial coefficient's gamma-function form."""
    if successes <= 0 or trials <= 0:
        return 0.0
    if p <= 0.0:
        return cap
    if p >= 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_term = (
        math.lgamma(trials + 1) - math.lgamma(successes + 1)
        - math.lgamma(trials - successes + 1) + successes * log_p + (trials - successes) * log_q
    )  # fmt: skip
    # Past the mean the terms only shrink: add them until they stop mattering.
    log_tail, k = log_term, successes
    while k < trials:
        log_term += math.log((trials - k) / (k + 1)) + log_p - log_q
        k += 1
        if log_term < log_tail - 40.0:
            break
        log_tail = max(log_tail, log_term) + math.log1p(math.exp(-abs(log_tail - log_term)))
    return min(cap, max(0.0, -log_tail / math.log(10)))


def wilson_upper_bound(successes: float, trials: float, z: float) -> float:
    """The upper end of the Wilson score interval for a proportion."""
    if trials <= 0:
        return 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return min(1.0, (centre + spread) / denominator)


def _top_templates(mined: MinedBatch, mask: list[bool], limit: int = 5) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for template_id, keep in zip(mined.template_ids, mask, strict=True):
        if keep:
            counts[template_id] = counts.get(template_id, 0) + 1
    return tuple(sorted(counts, key=counts.__getitem__, reverse=True)[:limit])
