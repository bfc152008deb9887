"""`hydra/launcher=slurm`'s target (see conf/hydra/launcher/slurm.yaml)."""

from custom_dense_lab.launch import slurm


class SlurmLauncher(slurm.SlurmLauncher):
    """`custom_dense_lab.launch.slurm.SlurmLauncher`, defined where Hydra accepts a launcher."""
