"""`hydra/launcher=ray`'s target, where Hydra looks for launchers; it needs the `ray` extra."""

import importlib.util

if importlib.util.find_spec("hydra_plugins.hydra_ray_launcher"):
    from custom_dense_lab.launch import ray

    class RayLauncher(ray.RayLauncher):
        """`hydra/launcher=ray`'s target: Hydra takes launchers from `hydra_plugins` only."""
