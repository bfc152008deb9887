"""custom_dense.convert: models with every Dense swapped, weights and predictions kept."""

import keras
import numpy as np
import pytest

from custom_dense import CustomDense, convert


def sequential_model():
    return keras.Sequential(
        [
            keras.Input((4, 3)),
            keras.layers.Dense(8, activation="relu", kernel_regularizer="l2"),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.1),
            keras.layers.Dense(2, activation="softmax", name="head"),
        ]
    )


def functional_model():
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(5, activation="tanh")(inputs)
    branch = keras.Sequential([keras.Input((5,)), keras.layers.Dense(5, use_bias=False)])(hidden)
    merged = keras.layers.Concatenate()([hidden, branch])
    return keras.Model(inputs, keras.layers.Dense(3)(merged))


def dense_types(model):
    found = []
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Dense | CustomDense):
            found.append(type(layer))
    return found


def layer_names(model):
    return [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


@pytest.mark.parametrize("make_model", [sequential_model, functional_model])
def test_converts_both_ways_with_identical_predictions(make_model):
    keras.utils.set_random_seed(0)
    stock = make_model()
    x = np.random.default_rng(0).normal(size=(7, *stock.input_shape[1:])).astype("float32")

    custom = convert(stock, to="custom")
    assert dense_types(custom) and set(dense_types(custom)) == {CustomDense}
    assert layer_names(custom) == layer_names(stock)
    np.testing.assert_array_equal(custom.predict(x, verbose=0), stock.predict(x, verbose=0))

    back = convert(custom, to="stock")
    assert set(dense_types(back)) == {keras.layers.Dense}
    np.testing.assert_array_equal(back.predict(x, verbose=0), stock.predict(x, verbose=0))
    assert set(dense_types(stock)) == {keras.layers.Dense}


def test_converted_model_trains_like_the_original():
    keras.utils.set_random_seed(1)
    stock = functional_model()
    custom = convert(stock)
    x = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")
    y = np.random.default_rng(1).normal(size=(32, 3)).astype("float32")
    losses = []
    for model in (stock, custom):
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        losses.append(model.fit(x, y, epochs=3, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(losses[1], losses[0], atol=1e-5)


def test_leaves_dense_subclasses_alone():
    class ScaledDense(keras.layers.Dense):
        def call(self, inputs):
            return 2.0 * super().call(inputs)

    model = keras.Sequential([keras.Input((3,)), ScaledDense(2), keras.layers.Dense(2)])
    converted = convert(model)
    assert [type(layer) for layer in converted.layers] == [ScaledDense, CustomDense]


def test_rejects_an_unknown_target():
    with pytest.raises(ValueError, match="'custom' or 'stock'"):
        convert(sequential_model(), to="tf")
