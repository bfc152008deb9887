"""CustomDense against Dense through Keras alone, on the active backend and device.

Run with `KERAS_BACKEND=jax` (or torch) to check the layer beyond TensorFlow, e.g. on a GPU.
"""

import keras
import numpy as np
import pytest

from custom_dense import CustomDense


def _mlp(layer_class, activation):
    return keras.Sequential(
        [
            keras.Input((3, 20)),
            layer_class(64, activation=activation, kernel_regularizer="l2"),
            keras.layers.Flatten(),
            layer_class(32, activation=activation),
            layer_class(5, activation="softmax"),
        ]
    )


@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh"])
def test_predictions_and_trajectory_match_dense(activation):
    rng = np.random.default_rng(0)
    batches = [
        (rng.normal(size=(16, 3, 20)).astype("float32"), rng.integers(0, 5, size=(16,)))
        for _ in range(30)
    ]
    everything = [np.concatenate(part) for part in zip(*batches, strict=True)]
    results = []
    for layer_class in (keras.layers.Dense, CustomDense):
        keras.utils.set_random_seed(0)
        model = _mlp(layer_class, activation)
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
        first = model.predict(batches[0][0], verbose=0)
        before = model.evaluate(*everything, verbose=0)
        losses = [float(model.train_on_batch(x, y)) for x, y in batches]
        after = model.evaluate(*everything, verbose=0)
        results.append((model.get_weights(), first, losses, before, after))
    stock, custom = results
    (stock_weights, stock_first, stock_losses, stock_before, stock_after) = stock
    (custom_weights, custom_first, custom_losses, custom_before, custom_after) = custom
    np.testing.assert_allclose(custom_first, stock_first, atol=1e-6)
    np.testing.assert_allclose(custom_losses, stock_losses, atol=1e-5)
    for custom, stock in zip(custom_weights, stock_weights, strict=True):
        np.testing.assert_allclose(custom, stock, atol=1e-5)
    np.testing.assert_allclose(
        [custom_before, custom_after], [stock_before, stock_after], atol=1e-5
    )
    assert stock_after < stock_before  # it trained
