"""Paired timings summarised: the median of per-round ratios, with a bootstrap interval."""

import numpy as np
import scipy.stats


def ratio_summary(numerator, denominator):
    """The per-round ratios' median `ratio`, its percentile bootstrap 95% interval `ci_low`,
    `ci_high` (for one round, the median), `min` and `max`."""
    ratios = np.asarray(numerator, dtype=float) / np.asarray(denominator, dtype=float)
    low = high = median = float(np.median(ratios))
    if len(ratios) > 1:
        rng = np.random.default_rng(0)
        found = scipy.stats.bootstrap(
            (ratios,), np.median, n_resamples=2000, rng=rng, method="percentile"
        )
        low, high = map(float, found.confidence_interval)
    return {"ratio": median, "ci_low": low, "ci_high": high, "min": min(ratios), "max": max(ratios)}
