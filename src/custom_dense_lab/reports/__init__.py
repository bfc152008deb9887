"""Reports from MLflow runs: the comparison of a sweep, and the studies."""
