"""Bootstrap intervals for open-set figures: FNIR at a set FPIR, its spread when the probes are
resampled, and the paired difference between two systems measured on the same probes.

FNIR at FPIR 1 % with about 2,000 strangers is set by the twentieth-highest stranger score, so
it moves a lot with the strangers drawn. Each resample draws the mated probes and the
strangers again, with replacement (each group from itself); the threshold is taken again from
the resampled strangers (the one naming at most the FPIR's share of them) and FNIR measured
at it on the resampled mated probes. A paired comparison uses the same resamples for both
systems, so what the probes have in common cancels out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FPIRS = (0.01, 0.02, 0.05)
RESAMPLES = 2000
LEVEL = 0.90


@dataclass(frozen=True)
class Scores:
    """One system's open-set scores: each mated probe's best-person score and whether that
    person is the right one, each stranger's best-person score (NaN: no face found, never
    named); `higher_is_closer`: False for distances."""

    mated_best: np.ndarray
    mated_right: np.ndarray
    stranger_best: np.ndarray
    higher_is_closer: bool = True

    def closeness(self) -> tuple[np.ndarray, np.ndarray]:
        """Mated and stranger scores with higher closer, no face as -inf."""
        sign = 1.0 if self.higher_is_closer else -1.0
        return (np.nan_to_num(sign * self.mated_best, nan=-np.inf),
                np.nan_to_num(sign * self.stranger_best, nan=-np.inf))


def _fnir(mated: np.ndarray, right: np.ndarray, strangers: np.ndarray,
          fpir: float) -> np.ndarray:
    """FNIR at FPIR `fpir` for each row (a resample) of the score matrices."""
    k = int(fpir * strangers.shape[1])  # strangers that may be named
    kth = -np.partition(-strangers, k, axis=1)[:, k]  # the (k+1)-th highest
    threshold = np.nextafter(kth, np.inf)
    named = mated >= threshold[:, None]
    return 1.0 - (named & right).mean(axis=1)


def _draws(scores: Scores, rng: np.random.Generator, resamples: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """Indices of each resample: mated probes, strangers."""
    return (rng.integers(0, len(scores.mated_best), (resamples, len(scores.mated_best))),
            rng.integers(0, len(scores.stranger_best), (resamples, len(scores.stranger_best))))


def _resampled(scores: Scores, draws: tuple[np.ndarray, np.ndarray], fpir: float
               ) -> np.ndarray:
    mated, strangers = scores.closeness()
    m, s = draws
    return _fnir(mated[m], scores.mated_right[m], strangers[s], fpir)


def _point(scores: Scores, fpir: float) -> float:
    mated, strangers = scores.closeness()
    return float(_fnir(mated[None], scores.mated_right[None], strangers[None], fpir)[0])


def fnir_at_fpir(scores: Scores, fpirs: tuple[float, ...] = FPIRS, resamples: int = RESAMPLES,
                 seed: int = 0) -> dict[str, dict[str, float]]:
    """FNIR at each FPIR with its bootstrap interval (LEVEL, percentiles)."""
    draws = _draws(scores, np.random.default_rng(seed), resamples)
    tail = (1 - LEVEL) / 2 * 100
    out = {}
    for fpir in fpirs:
        spread = _resampled(scores, draws, fpir)
        out[f"{fpir:g}"] = {"fnir": round(_point(scores, fpir), 4),
                            "low": round(float(np.percentile(spread, tail)), 4),
                            "high": round(float(np.percentile(spread, 100 - tail)), 4)}
    return out


def paired(a: Scores, b: Scores, fpirs: tuple[float, ...] = FPIRS, resamples: int = RESAMPLES,
           seed: int = 0) -> dict[str, dict[str, float]]:
    """FNIR of `a` less FNIR of `b` at each FPIR, with its bootstrap interval: both measured on
    the same probes, in the same order, and resampled alike."""
    if (len(a.mated_best), len(a.stranger_best)) != (len(b.mated_best), len(b.stranger_best)):
        raise ValueError("a paired comparison needs the same probes for both systems")
    draws = _draws(a, np.random.default_rng(seed), resamples)
    tail = (1 - LEVEL) / 2 * 100
    out = {}
    for fpir in fpirs:
        spread = _resampled(a, draws, fpir) - _resampled(b, draws, fpir)
        out[f"{fpir:g}"] = {"difference": round(_point(a, fpir) - _point(b, fpir), 4),
                            "low": round(float(np.percentile(spread, tail)), 4),
                            "high": round(float(np.percentile(spread, 100 - tail)), 4)}
    return out
