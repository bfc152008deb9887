"""`paired.add_noise` on a table of pairs built here: which pairs the verdict calls noisy, and why."""

import math

import numpy as np
import pandas as pd

from custom_dense_lab.reports.paired import add_noise

STEADY_ROUNDS = [0.010, 0.0102, 0.0098, 0.010]  # seconds of a training step, per paired round
STEADY_EPOCHS = [900.0, 2.0, 2.1, 2.0]  # ms, the first epoch's median holding the tracing step


def pair(run, low, high, custom_rounds=STEADY_ROUNDS, custom_epochs=STEADY_EPOCHS):
    """One pair's row, its paired timing and its epoch histories."""
    row = {
        "run_id_custom": f"c{run}",
        "run_id_stock": f"s{run}",
        "step_time_ratio": 1.0,
        "step_time_ratio_ci_low": low,
        "step_time_ratio_ci_high": high,
    }
    timing = {"seconds": {"train_step": {"custom": custom_rounds, "stock": STEADY_ROUNDS}}}
    epochs = {
        (layer, "epoch_step_time_ms"): np.asarray([range(len(values)), values], dtype=float)
        for layer, values in (("custom", custom_epochs), ("stock", STEADY_EPOCHS))
    }
    return row, timing, epochs


def test_a_wide_interval_or_swinging_steps_make_a_pair_noisy_and_nothing_else_does():
    pairs = [
        pair(0, 0.97, 1.03),  # ±3%, steady: not noisy
        pair(1, 0.955, 1.045),  # ±4.5%: within ±5%, not noisy
        pair(2, 0.89, 1.11),  # ±11%
        pair(3, 0.99, 1.01, custom_rounds=[0.010, 0.025, 0.010, 0.010]),  # 2.5x over the rounds
        pair(4, 0.99, 1.01, custom_epochs=[900.0, 2.0, 4.5, 2.0]),  # 2.25x after the first epoch
        pair(5, math.nan, math.nan),  # not timed in turns: no interval to judge
    ]
    table = pd.DataFrame([row for row, _, _ in pairs])
    timings = {(row["run_id_custom"], row["run_id_stock"]): timing for row, timing, _ in pairs}
    timings.pop(("c5", "s5"))

    add_noise(table, timings, [epochs for _, _, epochs in pairs])

    assert list(table["noisy"]) == [
        "",
        "",
        "interval ±11%",
        "custom steps 10 to 25 ms over rounds",
        "custom steps 2 to 4.5 ms over epochs",
        "",
    ]
