"""The Hydra callback that times a sweep's custom/stock pairs in turns, before its report."""

import os
import sys

from hydra.experimental.callback import Callback

from custom_dense_lab.process import signals
from custom_dense_lab.sweep.parent import PARENT_RUN_ENV


class PairedTimingCallback(Callback):
    """Registered after `MlflowSweepCallback`, so that it ends first (Hydra's reverse order)."""

    def on_multirun_end(self, config, **kwargs):
        parent = os.environ.get(PARENT_RUN_ENV)
        # Hydra calls this as a sweep stops, too; TensorFlow loads here, not in every job.
        if parent and config.pair_timing.rounds and sys.exc_info()[1] is None:
            from custom_dense_lab.benchmark.timing import time_sweep_pairs

            with signals.stops_at_checkpoints():
                time_sweep_pairs(parent, config.pair_timing)
