"""Floating-point work of a training step, for achieved GFLOP/s."""


def training_matmul_flops(model, batch_size):
    """The matmul FLOPs of one training step of the model's layers with a 2-D `kernel`.

    A layer mapping `n` features to `m` does `2 * batch * n * m` forward, as many
    for its kernel's gradient and, but for the first layer, for its input's.
    Elementwise work (bias, activation, loss, optimizer) is not counted.
    """
    kernels = [getattr(layer, "kernel", None) for layer in model.layers]
    shapes = [kernel.shape for kernel in kernels if kernel is not None and len(kernel.shape) == 2]
    return sum((2 if i == 0 else 3) * 2.0 * batch_size * n * m for i, (n, m) in enumerate(shapes))
