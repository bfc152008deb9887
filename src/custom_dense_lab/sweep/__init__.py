"""A sweep's orchestration: one parent run per multirun, its jobs nested, its end and report.

- `callback`: the Hydra callback (`hydra.callbacks.mlflow_sweep` in conf/config.yaml).
- `parent`: the parent run, created before the jobs and found by every job.
- `finish`: the sweep's end: lost jobs closed, the report, the best job, the parent's status.
- `interrupt`: a stop signal passed on to the sweep's jobs in other processes.
"""
