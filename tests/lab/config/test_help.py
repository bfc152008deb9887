"""`custom-dense-train --help` lists the options a user can choose, and no schema."""

from hydra import compose, initialize_config_dir

from custom_dense_lab.config import CONFIG_DIR
from custom_dense_lab.config.command_line import register_with_hydra


def test_the_help_lists_every_group_option_and_no_schema():
    register_with_hydra()
    with initialize_config_dir(config_dir=str(CONFIG_DIR)):
        cfg = compose(config_name="config", return_hydra_config=True)
        template = cfg.hydra.help.template
        groups = dict(line.split(": ") for line in template.split("\n") if ": " in line)
    assert groups["layer"] == "custom, stock"
    assert groups["dataset"] == "digits, fashion_mnist, mnist, synthetic"
    assert groups["optimizer"] == "adam, sgd"
    assert "_schema" not in template and "hydra" not in groups
