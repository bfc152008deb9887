"""The Hydra callback that times a sweep's custom/stock pairs in turns, before its report."""

import os
import sys

from hydra.experimental.callback import Callback

from custom_dense_lab.process import signals
from custom_dense_lab.sweep.parent import PARENT_RUN_ENV


class PairedTimingCallback(Callback):
    """Registered after `MlflowSweepCallback`: Hydra ends callbacks in reverse order, so this one
    runs first, and the report reads its timings (`pair_timing.rounds=0`: no timing)."""

    def on_multirun_end(self, config, **kwargs):
        parent = os.environ.get(PARENT_RUN_ENV)
        stopping = sys.exc_info()[1] is not None  # Hydra calls this as a sweep stops, too
        if not parent or config.pair_timing.rounds == 0 or stopping:
            return
        # TensorFlow loads here, at the sweep's end: Hydra makes this callback in every job too.
        from custom_dense_lab.benchmark.sweep_pairs import time_sweep_pairs

        with signals.stops_at_checkpoints():
            time_sweep_pairs(parent, config.pair_timing)
