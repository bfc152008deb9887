"""Paired timings summarised: the median of per-round ratios, with a bootstrap interval."""

import numpy as np
import scipy.stats


def ratio_summary(numerator, denominator, seed=0):
    """Per-round ratios of paired timings (custom / stock seconds, say): `ratio`, their median;
    `ci_low`, `ci_high`, its percentile bootstrap 95% interval (for one round, the median);
    `min`, `max`."""
    ratios = np.asarray(numerator, dtype=float) / np.asarray(denominator, dtype=float)
    median = float(np.median(ratios))
    low = high = median
    if len(ratios) > 1:
        interval = scipy.stats.bootstrap(
            (ratios,),
            np.median,
            n_resamples=2000,
            method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval
        low, high = float(interval.low), float(interval.high)
    return {
        "ratio": median,
        "ci_low": low,
        "ci_high": high,
        "min": float(ratios.min()),
        "max": float(ratios.max()),
    }
