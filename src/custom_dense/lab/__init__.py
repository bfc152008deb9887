"""The experiment lab around the layer: everything that trains, tracks, times and reports.

- `config`: the typed Hydra config and the one path that checks a command line.
- `data`: the datasets (the offline `sklearn_digits` TFDS builder, catalog and synthetic data).
- `training`: one job, from a composed config to a trained, measured model.
- `tracking`: the MLflow store, a job's record, a sweep's parent run.
- `benchmark`: paired, interleaved timing of custom against stock.
- `reports`: the comparison of a sweep and the studies, from MLflow runs.
- `cli`: the command-line programs behind `python -m custom_dense.<entry>`.

The lab imports the library (`custom_dense.CustomDense`); the library never imports the lab.
"""
