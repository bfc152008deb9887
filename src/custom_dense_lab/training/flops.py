"""Floating-point work of a training step, for achieved GFLOP/s."""


def training_matmul_flops(model, batch_size):
    """Counts the matmul FLOPs of one training step of a model's dense layers.

    A dense layer mapping `n` features to `m` does `2 * batch * n * m` FLOPs
    forward, as many again for the kernel's gradient and, except for the first
    layer (whose input needs no gradient), as many for its input's gradient.
    Bias, activation, loss and optimizer work is elementwise and not counted.

    Args:
        model: A built Keras model whose `layers`, in order, include its
            dense layers; every layer with a 2-D `kernel` counts, CustomDense
            and Dense alike.
        batch_size: Examples per step.

    Returns:
        FLOPs per step, as a float.
    """
    flops = 0.0
    first = True
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None or len(kernel.shape) != 2:
            continue
        n, m = kernel.shape
        passes = 2 if first else 3
        flops += passes * 2.0 * batch_size * n * m
        first = False
    return flops
