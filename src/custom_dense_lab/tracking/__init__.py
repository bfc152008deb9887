"""MLflow: the tracking store, a run's life, what a job records, run names and links into the UI."""
