"""Post-training quantization of `CustomDense`: int8, int4, float8, GPTQ and AWQ, as Dense's.

`DenseQuantization` is a mixin for a layer with Dense's variables (`_kernel`,
`bias`, `units`, LoRA) and Dense's arithmetic: its variables, their order,
their saved layout and every operation follow `keras.layers.Dense` of Keras
3.15, built from the public `keras.quantizers` functions, so that a layer
quantized here holds and computes what a quantized Dense does.

- int8: the kernel quantized per output channel (abs-max, [-127, 127]) with a
  float `kernel_scale`; inputs quantized per row at call time unless the
  config is weight-only.
- int4: values in [-8, 7] packed two to a byte along the output axis. Per
  output channel (`block_size` -1 or `None`, symmetric) or in groups of
  `block_size` inputs with a zero point (sub-channel, asymmetric; Keras's
  default of 128).
- float8: the float kernel kept, inputs and kernel quantized and dequantized
  as E4M3 in the forward pass and output gradients as E5M2 in the backward
  pass, with scales from delayed scaling over an amax history; the optimizer
  overwrites those variables with what the gradient computed
  (`overwrite_with_gradient`).

- gptq and awq: `quantize` adds the variables that calibration
  (`custom_dense.quantize_model`) fills: the kernel quantized to unsigned
  `weight_bits` integers with a scale and zero point per group of
  `group_size` inputs, transposed to `(units, input_dim)` and, at 4 bits,
  packed two to a byte along the units; AWQ adds a scale per input. Until
  calibrated, the layer computes with its float kernel.

int8 and int4 layers train through LoRA (the quantized kernel stays frozen);
their inputs' gradient comes from the dequantized kernel.
"""

import math

import ml_dtypes
from keras import dtype_policies, ops, quantizers

_INT4_RANGE = (-8, 7)
_INT8_RANGE = (-127, 127)
_E4M3_MAX = float(ml_dtypes.finfo("float8_e4m3fn").max)
_E5M2_MAX = float(ml_dtypes.finfo("float8_e5m2").max)
# Layer variables saved per mode, in Dense's order; absent ones are skipped.
_SAVED_VARIABLES = {
    None: ("kernel", "bias"),
    "int8": ("kernel", "bias", "kernel_scale"),
    "int4": ("kernel", "bias", "kernel_scale", "kernel_zero", "g_idx"),
    "float8": (
        "kernel",
        "bias",
        "inputs_scale",
        "inputs_amax_history",
        "kernel_scale",
        "kernel_amax_history",
        "outputs_grad_scale",
        "outputs_grad_amax_history",
    ),
    "gptq": ("bias", "quantized_kernel", "kernel_scale", "kernel_zero", "g_idx"),
    "awq": ("bias", "quantized_kernel", "kernel_scale", "kernel_zero", "awq_scales", "g_idx"),
}
CALIBRATED_MODES = ("gptq", "awq")


class DenseQuantization:
    """Dense's quantization, for a layer with Dense's variables.

    The layer calls `quantized_build` from its `build` when its dtype policy
    is a quantized one, and saves `saved_values()` (loads `saved_names()`)
    in `save_own_variables` (`load_own_variables`). Keras
    calls `quantize` (through `Layer.quantize`'s checks, which are Dense's)
    and, for a quantized layer, `_int8_call`, `_int4_call`, `_float8_call`,
    `_gptq_call` or `_awq_call` instead of `call`.
    """

    def quantize(self, mode=None, type_check=True, config=None):
        """Quantizes the built layer's float kernel in place.

        Args:
            mode: `"int8"`, `"int4"`, `"float8"`, `"gptq"` or `"awq"`.
            type_check: Dense's argument; the layer's own `quantize`
                checks it before calling this one.
            config: A `keras.quantizers.QuantizationConfig` (e.g. an
                `Int8QuantizationConfig` with no activation quantizer for
                weight-only int8, an `Int4QuantizationConfig` with its
                `block_size`, a `GPTQConfig`); Keras resolves a mode string
                into one.
        """
        self.quantization_config = config
        kernel_shape = self._kernel.shape
        if mode == "int8":
            weight_quantizer = quantizers.QuantizationConfig.weight_quantizer_or_default(
                config, quantizers.AbsMaxQuantizer(axis=0)
            )
            kernel, kernel_scale = weight_quantizer(self._kernel, to_numpy=True)
            del self._kernel
            self.quantized_build(kernel_shape, mode, config)
            self._kernel.assign(kernel)
            self.kernel_scale.assign(ops.squeeze(kernel_scale, axis=0))
        elif mode == "int4":
            kernel, kernel_scale, kernel_zero = self._quantize_int4(self._kernel, config)
            del self._kernel
            self.quantized_build(kernel_shape, mode, config)
            self._kernel.assign(quantizers.pack_int4(kernel, axis=-1)[0])
            self.kernel_scale.assign(kernel_scale)
            if kernel_zero is not None:
                self.kernel_zero.assign(kernel_zero)
        else:  # Keras has checked the mode: float8, gptq or awq, whose build is all
            self.quantized_build(kernel_shape, mode, config)
        if self.dtype_policy.quantization_mode is None:
            policy_name = mode
            if mode in CALIBRATED_MODES:
                policy_name = config.dtype_policy_string()
            elif mode == "int4":
                block_size = _block_size(self, config)
                policy_name = f"int4/{-1 if block_size is None else block_size}"
            self.dtype_policy = dtype_policies.get(f"{policy_name}_from_{self.dtype_policy.name}")

    def quantized_build(self, kernel_shape, mode, config=None):
        """Adds the variables of a layer quantized with `mode`, uninitialized, as Dense does."""
        if mode == "int8":
            self._int8_build(kernel_shape, config)
        elif mode == "int4":
            self._int4_build(kernel_shape, config)
        elif mode == "float8":
            self._float8_build()
        else:  # gptq or awq: a quantized dtype policy has one of Keras's modes
            self._calibrated_build(kernel_shape, mode, config)
        # Read by Keras's `Layer`, which refuses to quantize a layer twice.
        self._is_quantized = True

    def saved_names(self):
        """The names of the variables the layer saves, in Dense's order for its mode."""
        return [
            name
            for name in _SAVED_VARIABLES[self.quantization_mode]
            if name == "kernel" or getattr(self, name, None) is not None
        ]

    def saved_values(self):
        """`(name, value)` of what the layer saves, in the order of `saved_names`.

        A LoRA update is merged into the kernel; a quantized kernel is
        dequantized, merged and quantized again, with new scales.
        """
        merged = {"kernel": self.kernel}
        if self.quantization_mode in ("int8", "int4"):
            kernel, kernel_scale, kernel_zero = self._merged_quantized_kernel()
            merged = {"kernel": kernel, "kernel_scale": kernel_scale, "kernel_zero": kernel_zero}
        return [(name, merged.get(name, getattr(self, name, None))) for name in self.saved_names()]

    def _merged_quantized_kernel(self):
        """The int8 or packed int4 kernel with any LoRA update merged in: `(kernel, scale, zero)`."""
        kernel_zero = getattr(self, "kernel_zero", None)
        if not self.lora_enabled:
            return self._kernel, self.kernel_scale, kernel_zero
        update = (self.lora_alpha / self.lora_rank) * ops.matmul(
            self.lora_kernel_a, self.lora_kernel_b
        )
        merged = ops.add(self._dequantized_kernel(), update)
        if self.quantization_mode == "int8":
            kernel, kernel_scale = quantizers.abs_max_quantize(
                merged, axis=0, value_range=_INT8_RANGE, dtype="int8", to_numpy=True
            )
            return kernel, ops.squeeze(kernel_scale, axis=0), None
        kernel, kernel_scale, kernel_zero = self._quantize_int4(merged, self.quantization_config)
        return quantizers.pack_int4(kernel, axis=-1)[0], kernel_scale, kernel_zero

    def _int8_build(self, kernel_shape, config=None):
        self.inputs_quantizer = quantizers.QuantizationConfig.activation_quantizer_or_default(
            config, quantizers.AbsMaxQuantizer()
        )
        self._kernel = self.add_weight(
            name="kernel", shape=kernel_shape, initializer="zeros", dtype="int8", trainable=False
        )
        self.kernel_scale = self.add_weight(
            name="kernel_scale", shape=(self.units,), initializer="ones", trainable=False
        )

    def _int4_build(self, kernel_shape, config=None):
        self.inputs_quantizer = quantizers.QuantizationConfig.activation_quantizer_or_default(
            config, None
        )
        input_dim, output_dim = kernel_shape
        self._kernel = self.add_weight(
            name="kernel",
            shape=(input_dim, (output_dim + 1) // 2),
            initializer="zeros",
            dtype="int8",
            trainable=False,
        )
        block_size = _block_size(self, config)
        grouped = block_size is not None and block_size > 0
        scale_shape = (math.ceil(input_dim / block_size), self.units) if grouped else (self.units,)
        self.kernel_scale = self.add_weight(
            name="kernel_scale", shape=scale_shape, initializer="ones", trainable=False
        )
        if grouped:
            self.kernel_zero = self.add_weight(
                name="kernel_zero",
                shape=scale_shape,
                initializer="zeros",
                dtype="int8",
                trainable=False,
            )
            self.g_idx = self.add_weight(
                name="g_idx",
                shape=(input_dim,),
                initializer=lambda shape, dtype: ops.floor_divide(
                    ops.arange(input_dim, dtype=dtype), block_size
                ),
                dtype="float32",
                trainable=False,
            )

    def _float8_build(self):
        amax_history_length = getattr(
            self.dtype_policy,
            "amax_history_length",
            dtype_policies.QuantizedFloat8DTypePolicy.default_amax_history_length,
        )
        # Trainable, so that the gradient carries their new values to the optimizer.
        delayed_scaling = {
            "initializer": "ones",
            "dtype": "float32",
            "trainable": True,
            "autocast": False,
            "overwrite_with_gradient": True,
        }
        for name in ("inputs", "kernel", "outputs_grad"):
            setattr(
                self,
                f"{name}_scale",
                self.add_weight(name=f"{name}_scale", shape=(), **delayed_scaling),
            )
            setattr(
                self,
                f"{name}_amax_history",
                self.add_weight(
                    name=f"{name}_amax_history",
                    shape=(amax_history_length,),
                    **{**delayed_scaling, "initializer": "zeros"},
                ),
            )

    def _calibrated_build(self, kernel_shape, mode, config):
        """The variables GPTQ or AWQ calibration fills, as Dense's; the float kernel stays."""
        input_dim, units = kernel_shape
        setattr(self, f"is_{mode}_calibrated", False)
        self.kernel_shape = kernel_shape
        group_size = _quantization_setting(self, config, "group_size")
        groups = 1 if group_size == -1 else math.ceil(input_dim / group_size)
        packed_units = (units + 1) // 2 if self._calibrated_bits(config) == 4 else units
        fixed = {"initializer": "zeros", "trainable": False}
        self.quantized_kernel = self.add_weight(
            name="kernel", shape=(packed_units, input_dim), dtype="uint8", **fixed
        )
        self.kernel_scale = self.add_weight(
            name="kernel_scale", shape=(units, groups), **{**fixed, "initializer": "ones"}
        )
        self.kernel_zero = self.add_weight(
            name="kernel_zero", shape=(units, groups), dtype="uint8", **fixed
        )
        if mode == "awq":
            self.awq_scales = self.add_weight(
                name="awq_scales", shape=(input_dim,), **{**fixed, "initializer": "ones"}
            )
        self.g_idx = self.add_weight(name="g_idx", shape=(input_dim,), dtype="float32", **fixed)

    def _calibrated_bits(self, config=None):
        """The bits of a GPTQ kernel, from its config or dtype policy; AWQ's are always 4."""
        if self.quantization_mode == "awq" or isinstance(config, quantizers.AWQConfig):
            return 4
        return _quantization_setting(self, config, "weight_bits")

    def _calibrated_integer_kernel(self):
        """A calibrated GPTQ or AWQ kernel's integers, unpacked: `(units, input_dim)`."""
        if self._calibrated_bits() != 4:
            return self.quantized_kernel
        return quantizers.unpack_int4(
            self.quantized_kernel, orig_len=self.units, axis=0, dtype="uint8"
        )

    def _gptq_call(self, inputs, training=None):
        return self._calibrated_call(inputs, "gptq")

    def _awq_call(self, inputs, training=None):
        return self._calibrated_call(inputs, "awq")

    def _calibrated_call(self, inputs, mode):
        if not getattr(self, f"is_{mode}_calibrated"):
            kernel = self._kernel
        else:
            kernel = ops.transpose(
                _dequantize_grouped(
                    self._calibrated_integer_kernel(),
                    self.kernel_scale,
                    self.kernel_zero,
                    self.g_idx,
                    axis=-1,
                )
            )
            if mode == "awq":
                kernel = ops.divide(kernel, ops.expand_dims(self.awq_scales, -1))
        outputs = ops.matmul(inputs, kernel)
        if self.bias is not None:
            outputs = ops.add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _int8_call(self, inputs, training=None):
        outputs = self._integer_matmul(inputs, self._kernel)
        return self._finish_quantized_call(inputs, outputs)

    def _int4_call(self, inputs, training=None):
        kernel = quantizers.unpack_int4(self._kernel, self.units, axis=-1)
        outputs = self._integer_matmul(inputs, kernel)
        return self._finish_quantized_call(inputs, outputs)

    def _float8_call(self, inputs, training=None):
        if self.lora_enabled:
            raise NotImplementedError("Currently, `_float8_call` doesn't support LoRA")
        inputs = _float8_qdq_forward(
            inputs, self.inputs_scale, self.inputs_amax_history, training, self.compute_dtype
        )
        kernel = _float8_qdq_forward(
            self._kernel, self.kernel_scale, self.kernel_amax_history, training, self.compute_dtype
        )
        outputs = _float8_qdq_backward(
            ops.matmul(inputs, kernel),
            self.outputs_grad_scale,
            self.outputs_grad_amax_history,
            self.compute_dtype,
        )
        if self.bias is not None:
            bias = self.bias
            if self.dtype_policy.compute_dtype == "float32":
                # As Dense: a bfloat16-rounded bias, which XLA fuses into the matmul.
                bias = ops.cast(ops.cast(bias, "bfloat16"), bias.dtype)
            outputs = ops.add(outputs, bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _integer_matmul(self, inputs, kernel):
        """`inputs @ kernel` on an int8 or unpacked int4 kernel, its input gradient in float."""
        if getattr(self, "kernel_zero", None) is not None:  # int4 in groups
            return _grouped_matmul(
                inputs, kernel, self.kernel_scale, self.kernel_zero, self.g_idx, self.compute_dtype
            )
        return _scaled_matmul(
            inputs, kernel, self.kernel_scale, self.inputs_quantizer, self.compute_dtype
        )

    def _finish_quantized_call(self, inputs, outputs):
        """Adds the LoRA update, the bias and the activation to a quantized matmul's outputs."""
        if self.lora_enabled:
            update = ops.matmul(ops.matmul(inputs, self.lora_kernel_a), self.lora_kernel_b)
            outputs = ops.add(outputs, (self.lora_alpha / self.lora_rank) * update)
            outputs = ops.cast(outputs, self.compute_dtype)
        if self.bias is not None:
            outputs = ops.add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _dequantized_kernel(self):
        """The float kernel an int8 or int4 layer computes with, `(input_dim, units)`."""
        if self.quantization_mode == "int8":
            return ops.divide(ops.cast(self._kernel, self.compute_dtype), self.kernel_scale)
        kernel = quantizers.unpack_int4(self._kernel, self.units, axis=-1)
        if getattr(self, "kernel_zero", None) is None:  # per channel
            return ops.divide(ops.cast(kernel, self.compute_dtype), self.kernel_scale)
        grouped = _dequantize_grouped(kernel, self.kernel_scale, self.kernel_zero, self.g_idx)
        return ops.cast(grouped, self.compute_dtype)

    @staticmethod
    def _quantize_int4(kernel, config):
        """Quantizes a float kernel to int4 values in int8, unpacked: `(kernel, scale, zero)`."""
        block_size = getattr(config, "block_size", None)
        if block_size is None or block_size == -1:
            weight_quantizer = quantizers.QuantizationConfig.weight_quantizer_or_default(
                config,
                quantizers.AbsMaxQuantizer(axis=0, value_range=_INT4_RANGE, output_dtype="int8"),
            )
            values, scale = weight_quantizer(kernel, to_numpy=True)
            return values, ops.squeeze(scale, axis=0), None
        return quantizers.abs_max_quantize_grouped_with_zero_point(
            kernel, block_size=block_size, to_numpy=True
        )


def _quantization_setting(layer, config, name):
    """`name` (e.g. `"block_size"`) from the config, else from the layer's dtype policy."""
    if config is not None and hasattr(config, name):
        return getattr(config, name)
    policy = layer.dtype_policy
    if isinstance(policy, dtype_policies.DTypePolicyMap):
        policy = policy[layer.path]
    return getattr(policy, name, None)


def _block_size(layer, config):
    """The int4 group size; `None` per output channel."""
    block_size = _quantization_setting(layer, config, "block_size")
    return None if block_size == -1 else block_size


def _scaled_matmul(inputs, kernel, kernel_scale, inputs_quantizer, compute_dtype):
    @ops.custom_gradient
    def matmul(inputs, kernel, kernel_scale):
        def grad_fn(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            float_kernel = ops.divide(ops.cast(kernel, dtype=compute_dtype), kernel_scale)
            return ops.matmul(upstream, ops.transpose(float_kernel)), None, None

        output_scale = kernel_scale
        if inputs_quantizer:
            inputs, inputs_scale = inputs_quantizer(inputs, axis=-1)
            output_scale = ops.multiply(output_scale, inputs_scale)
        outputs = ops.cast(ops.matmul(inputs, kernel), compute_dtype)
        return ops.divide(outputs, output_scale), grad_fn

    return matmul(inputs, ops.convert_to_tensor(kernel), ops.convert_to_tensor(kernel_scale))


def _grouped_matmul(inputs, kernel, kernel_scale, kernel_zero, g_idx, compute_dtype):
    @ops.custom_gradient
    def matmul(inputs, kernel, kernel_scale, kernel_zero, g_idx):
        float_kernel = ops.cast(
            _dequantize_grouped(kernel, kernel_scale, kernel_zero, g_idx), compute_dtype
        )

        def grad_fn(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return ops.matmul(upstream, ops.transpose(float_kernel)), None, None, None, None

        return ops.matmul(inputs, float_kernel), grad_fn

    return matmul(
        inputs,
        ops.convert_to_tensor(kernel),
        ops.convert_to_tensor(kernel_scale),
        ops.convert_to_tensor(kernel_zero),
        ops.convert_to_tensor(g_idx),
    )


def _dequantize_grouped(kernel, scale, zero, g_idx, axis=0):
    """`(kernel - zero) * scale`, each input with its group's scale and zero point.

    The groups run along `axis` of `scale` and `zero`: 0 for int4's `(groups, units)`,
    -1 for GPTQ's and AWQ's `(units, groups)`.
    """
    groups = ops.cast(g_idx, "int32")
    scales = ops.take(scale, groups, axis=axis)
    zeros = ops.cast(ops.take(zero, groups, axis=axis), scales.dtype)
    return ops.multiply(ops.subtract(kernel, zeros), scales)


def _float8_qdq_forward(values, scale, amax_history, training, compute_dtype):
    """E4M3 quantize-dequantize of `values`; in training, the next scale and history as gradient."""

    @ops.custom_gradient
    def qdq(values, scale, amax_history):
        new_scale = new_amax_history = None
        if training:
            new_scale = quantizers.compute_float8_scale(
                ops.max(amax_history, axis=0), scale, ops.cast(_E4M3_MAX, "float32")
            )
            new_amax_history = quantizers.compute_float8_amax_history(values, amax_history)

        def grad(*args, upstream=None, variables=None):
            if upstream is None:
                (upstream,) = args
            return upstream, new_scale, new_amax_history

        return quantizers.quantize_and_dequantize(
            values, scale, "float8_e4m3fn", compute_dtype
        ), grad

    return qdq(
        ops.convert_to_tensor(values),
        ops.convert_to_tensor(scale),
        ops.convert_to_tensor(amax_history),
    )


def _float8_qdq_backward(outputs, scale, amax_history, compute_dtype):
    """`outputs` unchanged; their gradient quantized-dequantized as E5M2, with its next scale."""

    @ops.custom_gradient
    def qdq(outputs, scale, amax_history):
        def grad(*args, upstream=None, variables=None):
            if upstream is None:
                (upstream,) = args
            new_scale = quantizers.compute_float8_scale(
                ops.max(amax_history, axis=0), scale, ops.cast(_E5M2_MAX, "float32")
            )
            qdq_upstream = quantizers.quantize_and_dequantize(
                upstream, scale, "float8_e5m2", compute_dtype
            )
            new_amax_history = quantizers.compute_float8_amax_history(upstream, amax_history)
            return qdq_upstream, new_scale, new_amax_history

        return outputs, grad

    return qdq(outputs, ops.convert_to_tensor(scale), ops.convert_to_tensor(amax_history))
