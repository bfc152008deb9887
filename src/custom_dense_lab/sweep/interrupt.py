"""An interrupted sweep: the stop signal passed on to its jobs in other processes."""

import contextlib
import os
import time

from custom_dense_lab.reports.runs import child_runs
from custom_dense_lab.tracking import lifecycle


def forward_interrupt(parent, interrupted, timeout_s=15.0):
    """Sends the interrupt to the sweep's jobs running in other processes of this host.

    They record it themselves (KILLED, "interrupted by ..."); waits up to
    `timeout_s` for them to do so.
    """
    runs = child_runs(parent)
    if runs.empty:
        return
    running = runs[runs["status"] == "RUNNING"]
    pids = []
    for _, run in running.iterrows():
        tags = {
            key.removeprefix("tags."): value
            for key, value in run.items()
            if key.startswith("tags.")
        }
        pid = lifecycle.local_process(tags)
        if pid is not None and pid != os.getpid():
            pids.append(pid)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, interrupted.signum)
    deadline = time.monotonic() + timeout_s
    while pids and time.monotonic() < deadline:
        still = child_runs(parent)
        if not (still["status"] == "RUNNING").any():
            return
        time.sleep(0.5)
