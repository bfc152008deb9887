"""The lab's Hydra launchers, where Hydra looks for plugins: the `hydra_plugins` package.

Hydra instantiates a launcher only from a class defined under `hydra_plugins`;
the code lives in `custom_dense_lab.launch`.
"""
