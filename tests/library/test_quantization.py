"""CustomDense quantized as Dense is: variables, outputs, gradients, training, saving, errors.

Both layers start from the same float weights and are quantized the same way;
they run the same operations in the same order, so everything is compared
exactly (bit for bit), on whichever backend Keras runs.
"""

import json

import keras
import numpy as np
import pytest
from keras import ops, quantizers

from custom_dense import CustomDense, convert

INPUT_DIM, UNITS, BATCH = 40, 6, 5
# (mode, config): Keras's defaults for each mode, then the configs Dense accepts besides.
QUANTIZATIONS = {
    "int8": ("int8", None),
    "int8 weight-only": (
        "int8",
        quantizers.Int8QuantizationConfig(
            weight_quantizer=quantizers.AbsMaxQuantizer(axis=0), activation_quantizer=None
        ),
    ),
    "int4 (groups of 128)": ("int4", None),
    "int4 per channel": ("int4", quantizers.Int4QuantizationConfig(block_size=-1)),
    "int4 groups of 16": ("int4", quantizers.Int4QuantizationConfig(block_size=16)),
    "float8": ("float8", None),
}
INTEGER = [name for name in QUANTIZATIONS if not name.startswith("float8")]


def quantized_pair(name, input_dim=INPUT_DIM, seed=3, **config):
    """A Dense and a CustomDense with the same float weights, both quantized as `name` says."""
    mode, quantization_config = QUANTIZATIONS[name]
    keras.utils.set_random_seed(seed)
    dense = keras.layers.Dense(UNITS, bias_initializer="random_normal", **config)
    dense.build((None, input_dim))
    custom = CustomDense.from_config(dense.get_config())
    custom.build((None, input_dim))
    custom.set_weights(dense.get_weights())
    for layer in (dense, custom):
        layer.quantize(mode, config=quantization_config)
    return dense, custom


def inputs(shape=(BATCH, INPUT_DIM), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def enable_lora(layers, rank):
    """Enables LoRA on each layer with the same, non-zero, update matrices."""
    rng = np.random.default_rng(4)
    a = rng.normal(size=(INPUT_DIM, rank)).astype("float32")
    b = rng.normal(scale=0.1, size=(rank, UNITS)).astype("float32")
    for layer in layers:
        layer.enable_lora(rank)
        layer.lora_kernel_a.assign(a)
        layer.lora_kernel_b.assign(b)


def assert_same_variables(dense, custom):
    assert [v.path.split("/")[-1] for v in custom.weights] == [
        v.path.split("/")[-1] for v in dense.weights
    ]
    for dense_variable, custom_variable in zip(dense.weights, custom.weights, strict=True):
        assert custom_variable.dtype == dense_variable.dtype, custom_variable.path
        np.testing.assert_array_equal(
            ops.convert_to_numpy(custom_variable), ops.convert_to_numpy(dense_variable)
        )


class InputGradient(keras.layers.Layer):
    """Adds a trainable zero offset to a fixed-size batch, whose gradient is the input's."""

    def build(self, input_shape):
        self.offset = self.add_weight(shape=(BATCH, input_shape[-1]), initializer="zeros")

    def call(self, inputs):
        return ops.add(inputs, self.offset)


def one_sgd_step(layer, x, cotangent, run_eagerly):
    """One step of SGD (learning rate 1) on `sum(cotangent * layer(x))`: returns every weight after.

    The offset before the layer ends as minus the gradient of the inputs.
    """
    model = keras.Sequential(
        [keras.Input((x.shape[-1],), batch_size=BATCH), InputGradient(), layer]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=1.0),
        loss=lambda target, outputs: ops.sum(ops.multiply(target, outputs)),
        run_eagerly=run_eagerly,
    )
    model.train_on_batch(x, cotangent)
    return [ops.convert_to_numpy(weight) for weight in model.weights]


@pytest.mark.parametrize("name", QUANTIZATIONS)
def test_quantizing_the_same_weights_gives_dense_s_variables_bit_for_bit(name):
    dense, custom = quantized_pair(name)
    assert_same_variables(dense, custom)
    assert custom.quantization_mode == dense.quantization_mode
    assert custom.dtype_policy.name == dense.dtype_policy.name


@pytest.mark.parametrize("name", QUANTIZATIONS)
def test_a_quantized_layer_computes_what_dense_does(name):
    dense, custom = quantized_pair(name, activation="relu")
    x = inputs()
    np.testing.assert_array_equal(ops.convert_to_numpy(custom(x)), ops.convert_to_numpy(dense(x)))
    x3 = inputs((2, 3, INPUT_DIM))
    np.testing.assert_array_equal(ops.convert_to_numpy(custom(x3)), ops.convert_to_numpy(dense(x3)))


@pytest.mark.parametrize("name", INTEGER)
def test_lora_on_a_quantized_kernel_trains_as_on_dense(name):
    dense, custom = quantized_pair(name)
    enable_lora((dense, custom), 2)
    x, cotangent = inputs(), inputs((BATCH, UNITS), seed=1)

    # Eagerly: TensorFlow's graph of this step, without XLA on a CPU, gives gradients that
    # vary from run to run, for Dense as for CustomDense.
    after_dense = one_sgd_step(dense, x, cotangent, run_eagerly=True)
    after_custom = one_sgd_step(custom, x, cotangent, run_eagerly=True)

    # Input gradients, the LoRA matrices, the frozen kernel and its scales: all as Dense's.
    assert len(after_custom) == len(after_dense)
    for custom_value, dense_value in zip(after_custom, after_dense, strict=True):
        np.testing.assert_array_equal(custom_value, dense_value)
    assert not custom._kernel.trainable
    assert custom.lora_kernel_a.trainable and custom.lora_kernel_b.trainable


def test_a_float8_training_step_updates_weights_and_scales_as_dense_s():
    dense, custom = quantized_pair("float8")
    x, cotangent = inputs(), inputs((BATCH, UNITS), seed=1)
    # In a graph: float8's delayed scaling cannot run eagerly on TensorFlow, Dense's neither.
    after_dense = one_sgd_step(dense, x, cotangent, run_eagerly=False)
    after_custom = one_sgd_step(custom, x, cotangent, run_eagerly=False)
    for custom_value, dense_value in zip(after_custom, after_dense, strict=True):
        np.testing.assert_array_equal(custom_value, dense_value)
    # Delayed scaling moved: the amax histories recorded the step.
    assert np.any(ops.convert_to_numpy(custom.inputs_amax_history) != 0)


@pytest.mark.parametrize("name", QUANTIZATIONS)
def test_a_saved_quantized_model_loads_and_predicts_the_same(name, tmp_path):
    mode, config = QUANTIZATIONS[name]
    model = keras.Sequential([keras.Input((INPUT_DIM,)), CustomDense(UNITS, activation="relu")])
    model.quantize(mode, config=config)
    x = inputs()
    path = tmp_path / "quantized.keras"
    model.save(path)

    loaded = keras.saving.load_model(path)

    layer = loaded.layers[0]
    assert type(layer) is CustomDense and layer.quantization_mode == mode
    assert json.dumps(layer.get_config()) == json.dumps(model.layers[0].get_config())
    np.testing.assert_array_equal(ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(model(x)))


@pytest.mark.parametrize("name", INTEGER)
def test_saving_merges_lora_into_the_quantized_kernel_as_dense_does(name, tmp_path):
    dense, custom = quantized_pair(name)
    enable_lora((dense, custom), 3)
    dense_store, custom_store = {}, {}
    dense.save_own_variables(dense_store)
    custom.save_own_variables(custom_store)
    assert list(custom_store) == list(dense_store)
    for key in dense_store:
        np.testing.assert_array_equal(
            ops.convert_to_numpy(custom_store[key]), ops.convert_to_numpy(dense_store[key])
        )


@pytest.mark.parametrize("name", QUANTIZATIONS)
def test_model_quantize_reaches_every_custom_dense_without_a_warning(name, recwarn):
    mode, config = QUANTIZATIONS[name]
    model = keras.Sequential(
        [keras.Input((INPUT_DIM,)), CustomDense(8, activation="relu"), CustomDense(UNITS)]
    )
    model.quantize(mode, config=config)
    assert [layer.quantization_mode for layer in model.layers] == [mode, mode]
    assert not [w for w in recwarn if "CustomDense" in str(w.message)]


@pytest.mark.parametrize("name", QUANTIZATIONS)
def test_convert_moves_a_quantized_model_between_dense_and_custom_dense(name):
    mode, config = QUANTIZATIONS[name]
    keras.utils.set_random_seed(2)
    stock = keras.Sequential([keras.Input((INPUT_DIM,)), keras.layers.Dense(UNITS)])
    stock.quantize(mode, config=config)
    x = inputs()

    custom = convert(stock, to="custom")
    back = convert(custom, to="stock")

    assert type(custom.layers[0]) is CustomDense and type(back.layers[0]) is keras.layers.Dense
    assert custom.layers[0].quantization_mode == mode
    # By name: a layer quantized after it was built holds its variables in another order.
    stock_values = {v.path: ops.convert_to_numpy(v) for v in stock.weights}
    custom_values = {v.path: ops.convert_to_numpy(v) for v in custom.weights}
    assert custom_values.keys() == stock_values.keys()
    for path, value in stock_values.items():
        np.testing.assert_array_equal(custom_values[path], value)
    for model in (custom, back):
        np.testing.assert_array_equal(
            ops.convert_to_numpy(model(x)), ops.convert_to_numpy(stock(x))
        )


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "bfloat16", "mixed_float16"])
@pytest.mark.parametrize("name", ["int8 weight-only", "int4 per channel", "float8"])
def test_quantizing_under_the_mixed_precision_policies_dense_accepts(name, policy):
    mode = QUANTIZATIONS[name][0]
    if mode == "int8" and policy == "mixed_float16":
        pytest.skip("Dense refuses int8 with float16 compute: see the error test")
    dense, custom = quantized_pair(name, dtype=policy)
    assert (
        custom.dtype_policy.name
        == dense.dtype_policy.name
        == f"{mode}_from_{policy}".replace("int4_", "int4/-1_")
    )
    x = inputs()
    np.testing.assert_array_equal(ops.convert_to_numpy(custom(x)), ops.convert_to_numpy(dense(x)))


def _message(action):
    with pytest.raises(Exception) as raised:
        action()
    return type(raised.value), str(raised.value)


@pytest.mark.parametrize(
    "mistake",
    ["twice", "unbuilt", "float16 with int8", "unknown mode"],
)
def test_mistakes_get_dense_s_errors_with_dense_s_messages(mistake):
    def attempt(layer_class):
        layer = layer_class(UNITS, name="layer", dtype="float16" if "float16" in mistake else None)
        if mistake != "unbuilt":
            layer.build((None, INPUT_DIM))
        if mistake == "twice":
            layer.quantize("int8")
        return _message(lambda: layer.quantize("int3" if mistake == "unknown mode" else "int8"))

    error_type, message = attempt(CustomDense)
    assert (error_type, message.replace("CustomDense", "Dense")) == attempt(keras.layers.Dense)
