"""The typed Hydra config, and the one path that checks a command line against it."""
