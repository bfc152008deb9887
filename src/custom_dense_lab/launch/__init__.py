"""Hydra launchers of the lab: how a sweep's jobs are submitted and collected.

Hydra instantiates launchers only from the `hydra_plugins` package:
`hydra/launcher=slurm` (conf/hydra/launcher/slurm.yaml) targets
`hydra_plugins.custom_dense_launcher.slurm.SlurmLauncher`, a subclass of
`custom_dense_lab.launch.slurm.SlurmLauncher` defined there.
"""
