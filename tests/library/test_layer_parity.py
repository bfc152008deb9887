"""CustomDense against keras.layers.Dense: weights, outputs, gradients, losses, updates."""

import keras
import numpy as np
import pytest

from custom_dense import CustomDense

ACTIVATIONS = ["relu", "tanh", "gelu", "sigmoid", "softmax", "linear", None, "swish"]
INITIALIZERS = ["glorot_uniform", "he_normal", "lecun_normal", "orthogonal", "random_normal"]
RANK_SHAPES = {2: (6, 5), 3: (4, 3, 5), 4: (2, 3, 2, 5)}
POLICIES = ["float32", "mixed_float16", "mixed_bfloat16"]
TOLERANCE = {"float32": 1e-6, "mixed_float16": 1e-3, "mixed_bfloat16": 1e-2}


def build_pair(input_shape, seed=7, **config):
    """Builds a Dense and a CustomDense of one config, each right after seeding."""
    layers = []
    for layer_class in (keras.layers.Dense, CustomDense):
        keras.utils.set_random_seed(seed)
        layer = layer_class(**config)
        layer.build(input_shape)
        layers.append(layer)
    return layers


def random_input(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def forward_and_gradients(layer, x):
    """The output, and the gradients of `sum(y**2) + losses` for the input and each weight.

    On the active Keras backend, with its own differentiation: TensorFlow's
    tape, `jax.grad` over the layer's stateless call, PyTorch's autograd.

    Returns:
        `(y, input gradient, weight gradients, losses)`, as numpy.
    """
    backend = keras.config.backend()
    if backend == "tensorflow":
        y, input_grad, weight_grads, losses = _tensorflow_gradients(layer, x)
    elif backend == "jax":
        y, input_grad, weight_grads, losses = _jax_gradients(layer, x)
    else:
        y, input_grad, weight_grads, losses = _torch_gradients(layer, x)
    to_numpy = keras.ops.convert_to_numpy
    return (
        to_numpy(y),
        to_numpy(input_grad),
        [to_numpy(grad) for grad in weight_grads],
        [float(to_numpy(loss)) for loss in losses],
    )


def _target(y, losses):
    total = keras.ops.sum(keras.ops.cast(y, "float32") ** 2)
    for loss in losses:
        total = total + keras.ops.cast(loss, "float32")
    return total


def _tensorflow_gradients(layer, x):
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = layer(x)
        target = _target(y, layer.losses)
    weight_grads = tape.gradient(target, layer.trainable_weights)
    return y, tape.gradient(target, x), weight_grads, layer.losses


def _jax_gradients(layer, x):
    import jax

    def target(trainable, inputs):
        # The layer's own call (`__call__`, not `stateless_call`): it adds the activity loss.
        mapping = [
            *zip(layer.trainable_variables, trainable, strict=True),
            *zip(layer.non_trainable_variables, non_trainable, strict=True),
        ]
        with keras.StatelessScope(state_mapping=mapping, collect_losses=True):
            y = layer(inputs)
            losses = layer.losses  # the activity loss, and the weights' from the mapped values
        return _target(y, losses), (y, losses)

    trainable = [variable.value for variable in layer.trainable_variables]
    non_trainable = [variable.value for variable in layer.non_trainable_variables]
    grad = jax.grad(target, argnums=(0, 1), has_aux=True)
    (weight_grads, input_grad), (y, losses) = grad(trainable, jax.numpy.asarray(x))
    return y, input_grad, weight_grads, losses


def _torch_gradients(layer, x):
    import torch

    x = torch.tensor(x, requires_grad=True)
    for variable in layer.trainable_variables:
        variable.value.grad = None
    y = layer(x)
    _target(y, layer.losses).backward()
    weight_grads = [variable.value.grad for variable in layer.trainable_variables]
    return y.detach(), x.grad, weight_grads, [loss.detach() for loss in layer.losses]


def assert_same_behaviour(dense, custom, x, atol=1e-6):
    for a, b in zip(dense.get_weights(), custom.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    y_d, gx_d, gw_d, losses_d = forward_and_gradients(dense, x)
    y_c, gx_c, gw_c, losses_c = forward_and_gradients(custom, x)
    assert y_c.dtype == y_d.dtype
    assert y_c.shape == y_d.shape == dense.compute_output_shape(x.shape)
    assert custom.compute_output_shape(x.shape) == dense.compute_output_shape(x.shape)
    np.testing.assert_allclose(np.float32(y_c), np.float32(y_d), atol=atol, rtol=atol)
    np.testing.assert_allclose(np.float32(gx_c), np.float32(gx_d), atol=atol, rtol=atol)
    for a, b in zip(gw_d, gw_c, strict=True):
        np.testing.assert_allclose(np.float32(b), np.float32(a), atol=atol, rtol=atol)
    np.testing.assert_allclose(losses_c, losses_d, rtol=1e-6)


@pytest.mark.parametrize("rank", sorted(RANK_SHAPES))
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activations_and_ranks_match_dense(activation, rank):
    shape = RANK_SHAPES[rank]
    dense, custom = build_pair(shape, units=4, activation=activation)
    assert_same_behaviour(dense, custom, random_input(shape))


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("initializer", INITIALIZERS)
def test_initializers_give_identical_weights(initializer, use_bias):
    dense, custom = build_pair(
        (8, 16),
        units=12,
        kernel_initializer=initializer,
        bias_initializer="random_uniform" if use_bias else "zeros",
        use_bias=use_bias,
    )
    assert len(custom.get_weights()) == (2 if use_bias else 1)
    assert custom.kernel.shape == (16, 12)
    assert_same_behaviour(dense, custom, random_input((8, 16)))


def test_seeded_initializer_objects_match_dense():
    dense, custom = build_pair(
        (3, 9),
        units=5,
        kernel_initializer=keras.initializers.HeUniform(seed=3),
        bias_initializer=keras.initializers.RandomNormal(seed=4),
    )
    assert_same_behaviour(dense, custom, random_input((3, 9)))


@pytest.mark.parametrize("rank", sorted(RANK_SHAPES))
@pytest.mark.parametrize("policy", POLICIES)
def test_dtype_policies_match_dense(policy, rank):
    shape = RANK_SHAPES[rank]
    dense, custom = build_pair(shape, units=6, activation="relu", dtype=policy)
    assert custom.compute_dtype == dense.compute_dtype
    assert custom.variable_dtype == dense.variable_dtype == "float32"
    assert custom.kernel.dtype == dense.kernel.dtype
    assert_same_behaviour(dense, custom, random_input(shape), atol=TOLERANCE[policy])


REGULARIZED = {
    "l2_kernel": {"kernel_regularizer": "l2"},
    "l1_bias": {"bias_regularizer": keras.regularizers.L1(0.05)},
    "l1_l2_both": {
        "kernel_regularizer": keras.regularizers.L1L2(l1=0.01, l2=0.02),
        "bias_regularizer": "l2",
    },
    "activity": {"activity_regularizer": keras.regularizers.L2(0.1)},
    "all": {
        "kernel_regularizer": "l1",
        "bias_regularizer": "l2",
        "activity_regularizer": "l2",
    },
}


@pytest.mark.parametrize("name", sorted(REGULARIZED))
def test_regularization_losses_match_dense(name):
    dense, custom = build_pair(
        (5, 7), units=3, activation="tanh", bias_initializer="ones", **REGULARIZED[name]
    )
    x = random_input((5, 7))
    assert_same_behaviour(dense, custom, x)
    losses_d, losses_c = (forward_and_gradients(layer, x)[3] for layer in (dense, custom))
    assert len(losses_c) == len(losses_d) > 0


CONSTRAINED = {
    "max_norm": {"kernel_constraint": keras.constraints.MaxNorm(0.5)},
    "non_neg": {"kernel_constraint": "non_neg", "bias_constraint": "non_neg"},
    "unit_norm": {"kernel_constraint": keras.constraints.UnitNorm(axis=0)},
    "min_max_bias": {"bias_constraint": keras.constraints.MinMaxNorm(0.1, 0.2, axis=0)},
}


@pytest.mark.parametrize("name", sorted(CONSTRAINED))
def test_one_optimizer_step_with_constraints_matches_dense(name):
    dense, custom = build_pair(
        (8, 6), units=4, activation="relu", bias_initializer="random_normal", **CONSTRAINED[name]
    )
    x = random_input((8, 6))
    initial_kernel = dense.get_weights()[0]
    for layer in (dense, custom):
        optimizer = keras.optimizers.SGD(learning_rate=0.5)
        _, _, grads, _ = forward_and_gradients(layer, x)
        grads = [keras.ops.convert_to_tensor(grad) for grad in grads]
        optimizer.apply_gradients(zip(grads, layer.trainable_weights, strict=True))
    for a, b in zip(dense.get_weights(), custom.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, atol=1e-6)
    assert not np.allclose(custom.get_weights()[0], initial_kernel)


@pytest.mark.parametrize("direction", ["dense_to_custom", "custom_to_dense"])
def test_weights_are_interchangeable(direction):
    dense, custom = build_pair((4, 10), units=3, activation="sigmoid", seed=1)
    keras.utils.set_random_seed(2)
    source, target = (dense, custom) if direction == "dense_to_custom" else (custom, dense)
    source.set_weights([w + 0.25 for w in source.get_weights()])
    target.set_weights(source.get_weights())
    x = random_input((4, 10))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(custom(x)), keras.ops.convert_to_numpy(dense(x))
    )


def test_training_trajectory_matches_dense_over_30_sgd_steps():
    rng = np.random.default_rng(42)
    batches = [
        (rng.normal(size=(16, 20)).astype("float32"), rng.integers(0, 5, size=(16,)))
        for _ in range(30)
    ]
    histories = []
    for layer_class in (keras.layers.Dense, CustomDense):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((20,)),
                layer_class(32, activation="relu"),
                layer_class(32, activation="tanh"),
                layer_class(5),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=0.1),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        histories.append([float(model.train_on_batch(x, y)) for x, y in batches])
    stock_losses, custom_losses = histories
    np.testing.assert_allclose(custom_losses, stock_losses, atol=1e-5, rtol=0)
    assert stock_losses[-1] < stock_losses[0]
