"""Hydra launchers of the lab (`hydra/launcher=slurm`), registered from `hydra_plugins`."""
