"""A job's Keras callbacks: per-epoch metrics and step times into MLflow, and its stops."""

import math
import time

import keras
import mlflow
import numpy as np
from mlflow.entities import Metric

from custom_dense_lab.errors import TrainingDivergedError
from custom_dense_lab.process.signals import raise_if_stopped

NO_STEADY_STATE = (
    "no step_time_ms or train_gflops: one epoch of one training step, which traces the "
    "train function, has no steady-state step (train for more epochs or smaller batches)"
)


class EpochMetricsLogger(keras.callbacks.Callback):
    """Times every step, fails the job on a NaN or infinite loss, and logs each epoch's metrics
    (step = epoch) to the active run in batches at most two seconds apart."""

    def __init__(self):
        super().__init__()
        self.epoch_times, self.step_times, self._pending = [], [], []
        self._flushed_at = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.perf_counter()
        self.step_times.append([])

    def on_train_batch_begin(self, batch, logs=None):
        self._step_started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        loss = float(keras.ops.convert_to_numpy(logs["loss"]))  # waits for the step
        self.step_times[-1].append(time.perf_counter() - self._step_started)
        if not math.isfinite(loss):
            raise TrainingDivergedError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                "Terminating training immediately."
            )

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_times.append(time.perf_counter() - self._epoch_started)
        metrics = {f"train_{k}": float(logs[k]) for k in ("loss", "accuracy")}
        metrics |= {k: float(logs[k]) for k in ("val_loss", "val_accuracy") if k in logs}
        metrics["epoch_time_s"] = self.epoch_times[-1]
        metrics["epoch_step_time_ms"] = float(np.median(self.step_times[-1])) * 1000.0
        ended_ms = int(time.time() * 1000)
        self._pending += [Metric(key, value, ended_ms, epoch) for key, value in metrics.items()]
        if time.perf_counter() - self._flushed_at >= 2.0:
            self.flush()

    def flush(self):
        if self._pending:
            mlflow.MlflowClient().log_batch(mlflow.active_run().info.run_id, self._pending)
        self._pending, self._flushed_at = [], time.perf_counter()

    def steady_state_step_time_s(self):
        """The median step after the first epoch, else after the first step (which traces the
        train function); `None` for one epoch of one step."""
        steps = [t for epoch in self.step_times[1:] for t in epoch] or self.step_times[0][1:]
        return float(np.median(steps)) if steps else None


class StopWhenAsked(keras.callbacks.Callback):
    """Acts on a stop signal between steps, never inside one (`signals.stops_at_checkpoints`)."""

    def on_train_batch_end(self, batch, logs=None):
        raise_if_stopped()

    on_test_batch_end = on_predict_batch_end = on_epoch_end = on_train_batch_end
