"""The Hydra callback that times a sweep's custom/stock pairs in turns, at its end."""

import os

from hydra.experimental.callback import Callback

from custom_dense_lab.process import signals
from custom_dense_lab.sweep.parent import PARENT_RUN_ENV


class PairedTimingCallback(Callback):
    """Times each finished custom/stock pair of the sweep, in this process, before its report.

    Registered after `MlflowSweepCallback` (`hydra.callbacks` in conf/config.yaml),
    so that Hydra, which ends its callbacks in reverse order, runs this one
    first: the report then reads the timings. `pair_timing.rounds=0` turns it
    off. A stop while the pairs are timed ends the sweep KILLED, with the
    report of its finished jobs.
    """

    def on_multirun_end(self, config, **kwargs):
        parent = os.environ.get(PARENT_RUN_ENV)
        timing = config.pair_timing
        if not parent or timing.rounds == 0:
            return
        # TensorFlow loads here, where the sweep ends: Hydra makes this callback in every
        # job's process too.
        from custom_dense_lab.benchmark.sweep_pairs import time_sweep_pairs

        with signals.stops_at_checkpoints():
            time_sweep_pairs(parent, timing.rounds, timing.seconds_per_sample)
