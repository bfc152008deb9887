"""What a job records: its config as MLflow params."""

from helpers import compose_config

from custom_dense_lab.tracking import records


def test_config_params_are_dotted_keys_without_targets_and_with_enum_names():
    params = records.config_params(compose_config("optimizer=sgd", "trainer.verbose=2"))
    assert params["model.units"] == 64 and params["optimizer.momentum"] == 0.9
    assert params["trainer.precision"] == "float32" and params["trainer.verbose"] == "one_line"
    assert params["layer.dense_class"] == "custom_dense.CustomDense"
    assert not [key for key in params if key.endswith("_target_")]
    assert not [key for key in params if key.startswith("hydra")]
