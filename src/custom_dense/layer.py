"""`CustomDense`: a densely-connected layer written from scratch with `keras.ops`."""

import numbers

import keras
from keras import activations, constraints, initializers, ops, quantizers, regularizers

from custom_dense.quantization import CALIBRATED_MODES, DenseQuantization


@keras.saving.register_keras_serializable(package="custom_dense")
class CustomDense(DenseQuantization, keras.layers.Layer):
    """Just your regular densely-connected layer, written from scratch.

    `CustomDense` computes `output = activation(inputs @ kernel + bias)`, where
    `kernel` has shape `(input_dim, units)` and `bias` shape `(units,)`. Inputs
    of rank greater than 2 are multiplied along their last axis, so an input of
    shape `(batch, d0, d1)` gives an output of shape `(batch, d0, units)`.

    It is a drop-in replacement for `keras.layers.Dense`: the same arguments,
    defaults, variables (in the same order), config keys and saved format, and,
    given the same seed, the same initial weights. `quantize("int8")`,
    `"int4"`, `"float8"`, `"gptq"` and `"awq"` (or `keras.Model.quantize`)
    quantize it as they do Dense, with the same variables and arithmetic (see
    `custom_dense.quantization`); `custom_dense.quantize_model` calibrates
    GPTQ and AWQ, which Keras's own driver does for Dense alone.

    With LoRA enabled (`lora_rank`, or `enable_lora()` on a built layer), the
    base kernel is frozen and the effective kernel is
    `kernel + (lora_alpha / lora_rank) * (lora_kernel_a @ lora_kernel_b)`;
    saving merges the update into the kernel.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation function (name or callable). `None` means
            linear: `a(x) = x`.
        use_bias: Boolean, whether the layer adds a bias vector.
        kernel_initializer: Initializer for the `kernel` matrix.
        bias_initializer: Initializer for the bias vector.
        kernel_regularizer: Regularizer applied to the `kernel` matrix.
        bias_regularizer: Regularizer applied to the bias vector.
        activity_regularizer: Regularizer applied to the layer's output.
        kernel_constraint: Constraint applied to the `kernel` after each
            optimizer update.
        bias_constraint: Constraint applied to the bias after each update.
        lora_rank: Optional integer. If set, the layer is built with LoRA of
            this rank enabled.
        lora_alpha: Optional number scaling the LoRA update by
            `lora_alpha / lora_rank`. Defaults to `lora_rank`.
        quantization_config: Optional `keras.quantizers.QuantizationConfig`
            of a quantized layer, as `quantize` records it.
        **kwargs: Base layer arguments: `name`, `dtype` (a dtype or a dtype
            policy such as `"mixed_float16"`), `trainable`.

    Input shape:
        N-D tensor with shape `(batch_size, ..., input_dim)`, N >= 2.

    Output shape:
        N-D tensor with shape `(batch_size, ..., units)`.

    Example:

    >>> layer = CustomDense(4, activation="relu")
    >>> tuple(layer(keras.ops.ones((2, 3))).shape)
    (2, 4)
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        lora_rank=None,
        lora_alpha=None,
        quantization_config=None,
        **kwargs,
    ):
        if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units <= 0:
            raise ValueError(
                "Received an invalid value for `units`, expected a positive "
                f"integer. Received: units={units!r}"
            )
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        # Resolved here, in Dense's order, so that unseeded initializers draw
        # the same seeds as Dense's under `keras.utils.set_random_seed`.
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else lora_rank
        self.lora_enabled = False
        self.quantization_config = quantization_config
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if self.quantization_mode:
            self.quantized_build(
                (input_dim, self.units), self.quantization_mode, self.quantization_config
            )
        if self.quantization_mode not in ("int8", "int4", *CALIBRATED_MODES):
            # Those kernels are quantized_build's.
            self._kernel = self.add_weight(
                name="kernel",
                shape=(input_dim, self.units),
                initializer=self.kernel_initializer,
                regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint,
            )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})
        self.built = True
        if self.lora_rank:
            self.enable_lora(self.lora_rank, self.lora_alpha)

    @property
    def kernel(self):
        """The effective kernel: the base kernel plus the scaled LoRA update."""
        if not self.built:
            raise AttributeError("You must build the layer before accessing `kernel`.")
        mode = self.quantization_mode
        if mode in CALIBRATED_MODES and getattr(self, f"is_{mode}_calibrated"):
            kernel = self._calibrated_integer_kernel()  # as Dense: `(units, input_dim)`
        elif mode == "int4":
            kernel = quantizers.unpack_int4(self._kernel, self.units, axis=-1)
        else:
            kernel = self._kernel
        if not self.lora_enabled:
            return kernel
        update = ops.matmul(self.lora_kernel_a, self.lora_kernel_b)
        merged = ops.add(kernel, (self.lora_alpha / self.lora_rank) * update)
        return ops.cast(merged, self.compute_dtype)

    def call(self, inputs, training=None):
        outputs = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            outputs = ops.add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def quantize(self, mode=None, type_check=True, config=None):
        # As Dense, with Dense's message: a subclass's own `call` would give way to the
        # quantized call.
        if type_check and type(self) is not CustomDense:
            raise NotImplementedError(
                f"Layer {type(self).__name__} does not have a `quantize` method implemented."
            )
        super().quantize(mode, config=config)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform", b_initializer="zeros"):
        """Freezes the kernel and adds a trainable low-rank update to it.

        Args:
            rank: Positive integer, the rank of the update
                `lora_kernel_a @ lora_kernel_b`.
            lora_alpha: Optional number; the update is scaled by
                `lora_alpha / rank`. Defaults to `rank`.
            a_initializer: Initializer for `lora_kernel_a`.
            b_initializer: Initializer for `lora_kernel_b`; zeros make the
                layer start exactly where the base kernel is.
        """
        # Dense's messages, word for word.
        if self.kernel_constraint:
            raise ValueError(
                "Lora is incompatible with kernel constraints. In order to enable lora "
                "on this layer, remove the `kernel_constraint` argument."
            )
        if not self.built:
            raise ValueError("Cannot enable lora on a layer that isn't yet built.")
        if self.lora_enabled:
            raise ValueError("lora is already enabled. This can only be done once per layer.")
        if self.quantization_mode == "gptq":
            raise NotImplementedError("lora is not currently supported with GPTQ quantization.")
        # Keras locks a built layer's variable tracker; adding state needs it open.
        self._tracker.unlock()
        input_dim, units = self.kernel.shape
        # float32 whatever the policy, so that small updates do not underflow.
        self.lora_kernel_a = self.add_weight(
            name="lora_kernel_a",
            shape=(input_dim, rank),
            initializer=initializers.get(a_initializer),
            dtype="float32",
            regularizer=self.kernel_regularizer,
        )
        self.lora_kernel_b = self.add_weight(
            name="lora_kernel_b",
            shape=(rank, units),
            initializer=initializers.get(b_initializer),
            dtype="float32",
            regularizer=self.kernel_regularizer,
        )
        self._kernel.trainable = False
        self._tracker.lock()
        self.lora_enabled = True
        self.lora_rank = rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else rank

    def save_own_variables(self, store):
        """Saves the kernel, with any LoRA update merged in, the bias, and a quantized layer's
        scales, in Dense's order."""
        if not self.built:
            return
        for index, (_, value) in enumerate(self.saved_values()):
            store[str(index)] = value

    def load_own_variables(self, store):
        """Loads what `save_own_variables` saved; a LoRA update restarts from zero."""
        names = self.saved_names() if self.built else ["kernel", "bias"][: 1 + self.use_bias]
        if len(store.keys()) != len(names):
            raise ValueError(
                f"Layer '{self.name}' expected {len(names)} saved variables "
                f"({', '.join(names)}), but received {len(store.keys())}."
            )
        if not self.built:
            return
        for index, name in enumerate(names):
            variable = self._kernel if name == "kernel" else getattr(self, name)
            variable.assign(store[str(index)])
        # A saved GPTQ or AWQ layer is a calibrated one.
        self.is_gptq_calibrated = self.quantization_mode == "gptq"
        self.is_awq_calibrated = self.quantization_mode == "awq"
        if self.lora_enabled:
            self.lora_kernel_a.assign(ops.zeros(self.lora_kernel_a.shape))
            self.lora_kernel_b.assign(ops.zeros(self.lora_kernel_b.shape))

    def get_config(self):
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "quantization_config": keras.saving.serialize_keras_object(self.quantization_config),
        }
        if self.lora_rank:
            config["lora_rank"] = self.lora_rank
            config["lora_alpha"] = self.lora_alpha
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["quantization_config"] = keras.saving.deserialize_keras_object(
            config.get("quantization_config")
        )
        return super().from_config(config)
