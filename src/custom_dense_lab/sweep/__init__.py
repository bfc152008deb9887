"""A sweep: its parent run, its Hydra callback, its end and report, its workers' watch."""
