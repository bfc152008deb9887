"""MLflow: the tracking store, what a job records, and a sweep's parent run."""
