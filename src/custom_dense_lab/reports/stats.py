"""Summaries of paired timings: a ratio with its spread."""

import numpy as np
import scipy.stats

_BOOTSTRAP_RESAMPLES = 2000


def ratio_summary(numerator, denominator, seed=0):
    """Summarises per-round ratios of paired timings, e.g. custom / stock.

    Args:
        numerator: Seconds per round of A, as an array.
        denominator: Seconds per round of B, same rounds.
        seed: Seed of the bootstrap.

    Returns:
        A dict: `ratio` (the median of the per-round ratios), `ci_low` and
        `ci_high` (a percentile bootstrap 95% interval of that median,
        resampling rounds; the median itself with a single round), `min` and
        `max` (of the per-round ratios).
    """
    ratios = np.asarray(numerator, dtype=float) / np.asarray(denominator, dtype=float)
    median = float(np.median(ratios))
    if len(ratios) > 1:
        interval = scipy.stats.bootstrap(
            (ratios,),
            np.median,
            n_resamples=_BOOTSTRAP_RESAMPLES,
            method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval
        low, high = float(interval.low), float(interval.high)
    else:
        low = high = median
    return {
        "ratio": median,
        "ci_low": low,
        "ci_high": high,
        "min": float(ratios.min()),
        "max": float(ratios.max()),
    }
