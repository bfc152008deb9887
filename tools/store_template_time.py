"""Opening a new SQLite store, timed both ways in turns in one process: MLflow building its
schema, and a copy of the empty-store template (`tracking/store.py`)."""

import pathlib
import statistics
import sys
import tempfile
import time

import mlflow

from custom_dense_lab.tracking import store


def open_store(database, copied):
    started = time.perf_counter()
    if copied:
        store.create_store(database)
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{database}").search_experiments(max_results=1)
    return time.perf_counter() - started


def main(rounds=10):
    folder = pathlib.Path(tempfile.mkdtemp())
    open_store(folder / "warm-up-copied.db", True)  # the template built, as on a first start
    open_store(folder / "warm-up-built.db", False)
    times = {False: [], True: []}
    for index in range(rounds):
        for copied in (index % 2 == 0, index % 2 == 1):  # the order reversed every round
            times[copied].append(open_store(folder / f"{index}-{copied}.db", copied))
    for copied, label in ((False, "built by MLflow"), (True, "copied")):
        spread = f"{min(times[copied]):.2f} to {max(times[copied]):.2f}"
        print(f"{label}: median {statistics.median(times[copied]):.2f} s ({spread})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
