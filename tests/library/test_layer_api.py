"""CustomDense's surface: arguments, shapes, masking, config, saving and LoRA.

Loading a saved model in a fresh process: tests/e2e/test_library_process.py.
"""

import json
import re

import keras
import numpy as np
import pytest

from custom_dense import CustomDense


@pytest.mark.parametrize("units", [0, -1, 2.5, "4", True, None, [3]])
def test_invalid_units_raise_naming_the_value(units):
    with pytest.raises(ValueError, match=re.escape(f"units={units!r}")):
        CustomDense(units)


def test_numpy_integer_units_are_accepted_as_int():
    layer = CustomDense(np.int64(3))
    assert layer.units == 3 and type(layer.units) is int


def test_is_a_plain_layer_not_a_dense():
    assert not isinstance(CustomDense(2), keras.layers.Dense)
    assert keras.layers.Layer in CustomDense.__mro__
    assert not [
        cls for cls in CustomDense.__mro__ if cls.__module__.startswith("keras.src.layers.core")
    ]


def test_builds_lazily_from_the_last_axis_and_pins_it():
    layer = CustomDense(3)
    assert not layer.built
    # PyTorch's `Module.__getattr__` words the error its own way, for Dense alike.
    unbuilt = "build the layer" if keras.config.backend() != "torch" else "kernel"
    with pytest.raises(AttributeError, match=unbuilt):
        _ = layer.kernel
    layer(np.ones((2, 4, 7), "float32"))
    assert layer.built and layer.kernel.shape == (7, 3)
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 7"):
        layer(np.ones((2, 6), "float32"))
    with pytest.raises(ValueError, match="expected min_ndim=2"):
        CustomDense(3)(np.ones((7,), "float32"))


def test_symbolic_shapes_and_compute_output_shape():
    inputs = keras.Input((None, 5))
    outputs = CustomDense(8)(inputs)
    assert tuple(outputs.shape) == (None, None, 8)
    assert CustomDense(2).compute_output_shape((None, 3, 4, 9)) == (None, 3, 4, 2)


def test_masks_pass_through():
    inputs = keras.Input((4,), dtype="int32")
    embedded = keras.layers.Embedding(10, 6, mask_zero=True)(inputs)
    projected = CustomDense(3)(embedded)
    model = keras.Model(inputs, projected)
    tokens = np.array([[1, 2, 0, 0], [3, 0, 0, 0]])
    mask = model.layers[-1].compute_mask(
        model.layers[1](tokens), model.layers[1].compute_mask(tokens)
    )
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(mask), tokens != 0)
    assert projected._keras_mask is not None


def test_config_has_every_dense_key_and_round_trips():
    custom = CustomDense(
        5,
        activation="relu",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.L1L2(l1=0.1, l2=0.2),
        activity_regularizer="l2",
        bias_constraint="non_neg",
        dtype="mixed_bfloat16",
        name="projection",
        trainable=False,
    )
    dense = keras.layers.Dense(**{k: v for k, v in custom.get_config().items()})
    assert set(dense.get_config()) == set(custom.get_config())
    config = custom.get_config()
    json.dumps(config)
    restored = CustomDense.from_config(config)
    assert restored.get_config() == config
    assert restored.dtype_policy.name == "mixed_bfloat16" and restored.trainable is False


def test_a_quantization_config_round_trips_as_dense_s():
    config = keras.quantizers.Int4QuantizationConfig(block_size=32)
    custom = CustomDense(2, quantization_config=config)
    dense = keras.layers.Dense(2, quantization_config=config)
    assert custom.get_config()["quantization_config"] == dense.get_config()["quantization_config"]
    restored = CustomDense.from_config(json.loads(json.dumps(custom.get_config())))
    assert restored.quantization_config.block_size == 32


def test_registered_for_serialization():
    assert keras.saving.get_registered_name(CustomDense) == "custom_dense>CustomDense"
    assert keras.saving.get_registered_object("custom_dense>CustomDense") is CustomDense


def _lora_pair(rank, **enable_kwargs):
    layers = []
    for layer_class in (keras.layers.Dense, CustomDense):
        keras.utils.set_random_seed(5)
        layer = layer_class(6, activation="relu")
        layer.build((None, 10))
        layer.enable_lora(rank, **enable_kwargs)
        layers.append(layer)
    return layers


@pytest.mark.parametrize("lora_alpha", [None, 8.0])
def test_lora_matches_dense(lora_alpha):
    dense, custom = _lora_pair(2, lora_alpha=lora_alpha, b_initializer="random_normal")
    assert [w.path.split("/")[-1] for w in custom.weights] == [
        w.path.split("/")[-1] for w in dense.weights
    ]
    assert [w.name for w in custom.trainable_weights] == ["bias", "lora_kernel_a", "lora_kernel_b"]
    assert custom.lora_alpha == dense.lora_alpha == (lora_alpha or 2)
    for a, b in zip(dense.get_weights(), custom.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(custom.kernel),
        keras.ops.convert_to_numpy(dense.kernel),
        atol=1e-6,
    )
    x = np.random.default_rng(1).normal(size=(4, 10)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(custom(x)), keras.ops.convert_to_numpy(dense(x)), atol=1e-6
    )


def test_lora_from_constructor_keeps_lora_alpha():
    layer = CustomDense(3, lora_rank=2, lora_alpha=6)
    layer.build((None, 4))
    assert layer.lora_enabled and layer.lora_rank == 2 and layer.lora_alpha == 6
    assert not layer._kernel.trainable
    assert layer.get_config()["lora_rank"] == 2 and layer.get_config()["lora_alpha"] == 6


def _error(action):
    """`(type, message)` of the exception `action()` raises, the class named as Dense."""
    with pytest.raises(Exception) as raised:
        action()
    return type(raised.value), str(raised.value).replace("CustomDense", "Dense")


def _built(layer_class, **kwargs):
    layer = layer_class(2, **kwargs)
    layer.build((None, 3))
    return layer


def _enabled_twice(layer_class):
    layer = _built(layer_class)
    layer.enable_lora(1)
    layer.enable_lora(1)


@pytest.mark.parametrize(
    "mistake",
    [
        lambda layer_class: layer_class(2).enable_lora(1),
        lambda layer_class: _built(layer_class, kernel_constraint="non_neg").enable_lora(1),
        _enabled_twice,
    ],
    ids=["unbuilt", "kernel constraint", "twice"],
)
def test_lora_refuses_what_dense_refuses_with_dense_s_error(mistake):
    dense_error = _error(lambda: mistake(keras.layers.Dense))
    assert _error(lambda: mistake(CustomDense)) == dense_error
    assert dense_error[0] is ValueError


def test_an_activation_set_to_none_after_construction_is_linear_as_in_dense():
    dense = _built(keras.layers.Dense, activation="relu")
    custom = _built(CustomDense, activation="relu")
    custom.set_weights(dense.get_weights())
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    for layer in (dense, custom):
        layer.activation = None
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(custom(x)), keras.ops.convert_to_numpy(dense(x))
    )
    assert np.any(keras.ops.convert_to_numpy(custom(x)) < 0)


class DoubledDense(keras.layers.Dense):
    def call(self, inputs):
        return 2 * super().call(inputs)


class DoubledCustomDense(CustomDense):
    def call(self, inputs):
        return 2 * super().call(inputs)


def test_a_subclass_is_refused_quantization_unless_type_check_is_off_as_dense_s():
    dense, custom = _built(DoubledDense), _built(DoubledCustomDense)
    dense_error = _error(lambda: dense.quantize("int8"))
    assert _error(lambda: custom.quantize("int8")) == dense_error
    assert dense_error[0] is NotImplementedError and "DoubledDense" in dense_error[1]
    assert custom.quantization_mode is None
    custom.quantize("int8", type_check=False)
    dense.quantize("int8", type_check=False)
    assert custom.quantization_mode == dense.quantization_mode == "int8"


def test_model_quantize_skips_a_subclass_with_dense_s_warning():
    model = keras.Sequential([keras.Input((3,)), DoubledCustomDense(2)])
    with pytest.warns(UserWarning, match="does not have a `quantize` method implemented"):
        model.quantize("int8")
    assert model.layers[0].quantization_mode is None


def test_lora_trains_only_the_update_and_saves_merged(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((10,)), CustomDense(6, activation="tanh"), CustomDense(3)]
    )
    model.layers[0].enable_lora(2)
    frozen_kernel = model.layers[0]._kernel.numpy().copy()
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    x = np.random.default_rng(0).normal(size=(32, 10)).astype("float32")
    model.fit(x, np.random.default_rng(1).normal(size=(32, 3)), epochs=3, verbose=0)
    np.testing.assert_array_equal(model.layers[0]._kernel.numpy(), frozen_kernel)
    assert not np.allclose(keras.ops.convert_to_numpy(model.layers[0].kernel), frozen_kernel)

    model.save(tmp_path / "lora.keras")
    restored = keras.models.load_model(tmp_path / "lora.keras")
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5
    )
    np.testing.assert_allclose(
        restored.layers[0]._kernel.numpy(),
        keras.ops.convert_to_numpy(model.layers[0].kernel),
        atol=1e-6,
    )
    np.testing.assert_array_equal(restored.layers[0].lora_kernel_b.numpy(), 0)
