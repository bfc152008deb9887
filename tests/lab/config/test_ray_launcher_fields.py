"""`hydra/launcher=ray`'s task options, refused in one line before Ray starts."""

import pytest

from custom_dense_lab.config import CONFIG_DIR
from custom_dense_lab.config.validation import compose_command_line
from custom_dense_lab.errors import ConfigError

pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="the `ray` extra is not installed")

RAY = ("-m", "hydra/launcher=ray", "layer=custom,stock")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "num_cpus=-1",
            "Invalid hydra.launcher.ray.remote.num_cpus=-1: expected a number of CPUs >= 0.",
        ),
        (
            "num_gpus=two",
            "Invalid hydra.launcher.ray.remote.num_gpus='two': expected a number of GPUs >= 0.",
        ),
        (
            "memory=0",
            "Invalid hydra.launcher.ray.remote.memory=0: expected null or a number of bytes > 0.",
        ),
        (
            "memory=1.5",
            "Invalid hydra.launcher.ray.remote.memory=1.5: expected null or a number of bytes",
        ),
        (
            "max_retries=-2",
            "Invalid hydra.launcher.ray.remote.max_retries=-2: expected an integer >= 0",
        ),
        (
            "max_retries=true",
            "Invalid hydra.launcher.ray.remote.max_retries=True: expected an integer",
        ),
    ],
)
def test_a_bad_ray_task_option_is_refused_in_one_line(override, message):
    with pytest.raises(ConfigError) as refused:
        compose_command_line([*RAY, f"hydra.launcher.ray.remote.{override}"], CONFIG_DIR)
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_the_ray_launcher_takes_fractions_of_a_gpu_and_a_memory_size():
    configs = compose_command_line(
        [
            *RAY,
            "hydra.launcher.ray.remote.num_gpus=0.5",
            "hydra.launcher.ray.remote.memory=2000000000",
        ],
        CONFIG_DIR,
    )
    assert [config.hydra.launcher.ray.remote.num_gpus for config in configs] == [0.5, 0.5]
