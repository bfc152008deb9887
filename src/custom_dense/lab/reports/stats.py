"""Summaries of paired timings: a ratio with its spread."""

import numpy as np

_BOOTSTRAP_SAMPLES = 2000


def ratio_summary(numerator, denominator, seed=0):
    """Summarises per-round ratios of paired timings, e.g. custom / stock.

    Args:
        numerator: Seconds per round of A, as an array.
        denominator: Seconds per round of B, same rounds.
        seed: Seed of the bootstrap.

    Returns:
        A dict: `ratio` (the median of the per-round ratios), `ci_low` and
        `ci_high` (a bootstrap 95% interval of that median, resampling
        rounds), `min` and `max` (of the per-round ratios).
    """
    ratios = np.asarray(numerator, dtype=float) / np.asarray(denominator, dtype=float)
    rng = np.random.default_rng(seed)
    resampled = rng.choice(ratios, size=(_BOOTSTRAP_SAMPLES, len(ratios)), replace=True)
    low, high = np.percentile(np.median(resampled, axis=1), [2.5, 97.5])
    return {
        "ratio": float(np.median(ratios)),
        "ci_low": float(low),
        "ci_high": float(high),
        "min": float(ratios.min()),
        "max": float(ratios.max()),
    }
