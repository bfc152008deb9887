"""A model's forward pass, compiled the way its Keras backend compiles: what inference is timed through."""

import weakref

import keras


def compiled_forward(model, example_shape):
    """The forward pass of `model` in inference mode, as one compiled function.

    - TensorFlow: a `tf.function` traced once for any batch size, with XLA
      when the model compiles with it (`model.jit_compile`);
    - JAX: `jax.jit` over the model's stateless call, given the model's
      variables as they are at each call;
    - PyTorch: the module, eagerly, under `torch.no_grad()` (the backend's
      `jit_compile` compiles the training step).

    The function holds the model weakly: it can be kept beside the model (see
    `ProcessReuse`) without keeping it alive, and works while the model lives.

    Args:
        model: A built Keras model.
        example_shape: The shape of one input example.

    Returns:
        A function from a batch of inputs (a backend tensor, see `inputs`)
        to the model's outputs.
    """
    held = weakref.ref(model)
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec((None, *example_shape), tf.float32)
        return tf.function(
            lambda x: held()(x, training=False),
            input_signature=[spec],
            jit_compile=bool(model.jit_compile),
        )
    if backend == "jax":
        import jax

        def stateless_forward(trainable, non_trainable, x):
            outputs, _ = held().stateless_call(trainable, non_trainable, x, training=False)
            return outputs

        compiled = jax.jit(stateless_forward)

        def forward(x):
            current = held()
            trainable = [variable.value for variable in current.trainable_variables]
            non_trainable = [variable.value for variable in current.non_trainable_variables]
            return compiled(trainable, non_trainable, x)

        return forward
    if backend == "torch":
        import torch

        def forward(x):
            with torch.no_grad():
                return held()(x, training=False)

        return forward
    raise ValueError(f"no compiled forward pass for the Keras backend {backend!r}")


def inputs(batch):
    """A float32 numpy batch as the backend's tensor, on the current device."""
    return keras.ops.convert_to_tensor(batch, dtype="float32")


def wait_for(outputs):
    """The outputs as numpy, once the device has computed them."""
    return keras.ops.convert_to_numpy(outputs)
