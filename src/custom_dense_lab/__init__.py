"""The experiment lab around the layer: everything that trains, tracks, times and reports.

- `train`, `compare`, `bench`, `studies`: the programs (`custom-dense-<name>`, or
  `python -m custom_dense_lab.<name>`).
- `process`: what a program sets up for its process: a quiet start, stop signals,
  worker threads, one job's settings, and what jobs reuse (`process.reuse`).
- `config`: the typed Hydra config, the shipped config tree (`conf/`), the one
  override reader and the one path that checks a command line.
- `data`: the datasets (the offline `sklearn_digits` TFDS builder, catalog and synthetic data).
- `training`: one job, from a composed config to a trained, measured model.
- `tracking`: the MLflow store, a run's life (`tracking.lifecycle`), what a run records.
- `sweep`: a multirun's parent run, its end, its interruption.
- `launch`: the SLURM launcher, and jobs SLURM starts again.
- `benchmark`: paired, interleaved timing of custom against stock.
- `reports`: the comparison of a sweep and the studies, from MLflow runs.

Importing this package imports nothing: each program quiets TensorFlow's start-up
before it imports the library (`custom_dense`), Keras or TensorFlow.
"""
