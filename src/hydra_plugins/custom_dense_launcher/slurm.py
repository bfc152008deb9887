from custom_dense_lab.launch import slurm


class SlurmLauncher(slurm.SlurmLauncher):
    """`hydra/launcher=slurm`'s target: Hydra takes launchers from `hydra_plugins` only."""
