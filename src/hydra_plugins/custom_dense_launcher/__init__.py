"""The lab's launchers where Hydra looks for plugins; the code lives in `custom_dense_lab.launch`."""
