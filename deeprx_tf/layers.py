"""`GroupedDepthwiseConv2D`: Keras' depthwise convolution, dilated ones computed by the fastest kernel the device has.

TensorFlow computes a dilated ``tf.nn.depthwise_conv2d`` as SpaceToBatchND,
an undilated depthwise convolution and BatchToSpaceND, forward and
backward. A depthwise convolution with depth multiplier ``m`` is also a
grouped convolution with one group per input channel and ``m`` outputs per
group, and ``tf.nn.conv2d`` runs grouped convolutions with native
dilations. Same kernel variable, same output channel order (``c * m + j``),
same function; only the kernels that compute it differ, and which is
faster depends on the device:

- on a GPU (cuDNN) and on a CPU where TensorFlow's oneDNN kernels are on
  by TensorFlow's own default (x86 CPUs with the AVX512-VNNI, AVX512-BF16,
  AVX-VNNI or AMX instructions), the grouped convolution: it skips the two
  reshuffles;
- elsewhere, Keras' depthwise form. Without oneDNN, TensorFlow's CPU
  kernels have no gradient for a dilated grouped ``Conv2D``, and in a graph
  its optimizer fuses the convolution with its bias into a kernel that has
  no grouped form at all ("Fused conv implementation does not support
  grouped convolutions"); with oneDNN turned on by hand on a CPU without
  those instructions, oneDNN's grouped kernel is several times slower than
  the depthwise one (``docs/benchmarks.md``).

`dilated_conv_kernel` says which form a device gets; it is decided once per
process and device type, when a graph is traced, whoever imported
TensorFlow first. `set_dilated_conv_kernel` (or the environment variable
``DEEPRX_DILATED_CONV``) forces one.

The TFLite converter and tensorflow-model-optimization know Keras' own
layers only: `with_keras_layers` gives them the same model built from those.
"""

from __future__ import annotations

import functools
import os

import tensorflow as tf
import tf_keras as keras

from deeprx_tf import machine
from link_sim.errors import InputError

#: The forms `set_dilated_conv_kernel` takes: ``"auto"`` chooses per device (`dilated_conv_kernel`).
DILATED_CONV_KERNELS = ("auto", "grouped", "depthwise")
#: Environment variable that sets the form for a process (one of `DILATED_CONV_KERNELS`).
DILATED_CONV_ENV = "DEEPRX_DILATED_CONV"
#: /proc/cpuinfo flags of the instructions for which TensorFlow turns oneDNN on by default on Linux.
ONEDNN_DEFAULT_CPU_FLAGS = frozenset({"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8",
                                      "amx_bf16"})

#: Where Linux lists the CPU's instruction sets (a module global: tests point it at a file of their own).
CPUINFO = machine.CPUINFO

_forced: str | None = None


def _check_kernel(form: str, source: str) -> str:
    if form not in DILATED_CONV_KERNELS:
        raise InputError(f"{source} is {form!r}: choose one of {', '.join(DILATED_CONV_KERNELS)}")
    return form


def set_dilated_conv_kernel(form: str) -> None:
    """Force how dilated depthwise convolutions run in this process.

    Parameters
    ----------
    form : "auto", "grouped" or "depthwise"
        ``"grouped"``: a grouped ``Conv2D`` with native dilations (needs
        oneDNN on a CPU, TensorFlow's own ``TF_ENABLE_ONEDNN_OPTS``, or a
        GPU); ``"depthwise"``: Keras' ``DepthwiseConv2D`` (runs
        everywhere); ``"auto"`` (the default): `dilated_conv_kernel`
        chooses per device. Overrides ``DEEPRX_DILATED_CONV``.

    Graphs already traced (a `tf.function`, a compiled Keras model's
    ``fit``/``predict``) keep the form they were traced with.
    """
    global _forced
    _forced = _check_kernel(form, "the dilated convolution kernel")


def onednn_enabled() -> bool:
    """Whether TensorFlow's oneDNN CPU kernels are on in this process (as TensorFlow decided at start-up)."""
    try:
        from tensorflow.python.util import _pywrap_util_port  # TensorFlow's own switch, no public API
    except ImportError:
        return False
    return bool(_pywrap_util_port.IsMklEnabled())


def cpu_has_onednn_default_instructions(cpuinfo: str | None = None) -> bool:
    """Whether this CPU has an instruction set for which TensorFlow turns oneDNN on by default
    (`ONEDNN_DEFAULT_CPU_FLAGS`), read from ``cpuinfo`` (`CPUINFO` by default); False where there is
    no such file."""
    return bool(ONEDNN_DEFAULT_CPU_FLAGS & machine.read_cpuinfo(cpuinfo or CPUINFO)[1])


@functools.lru_cache(maxsize=None)
def _auto_kernel(device_type: str) -> str:
    if device_type == "GPU":
        return "grouped"
    if device_type == "CPU" and onednn_enabled() and cpu_has_onednn_default_instructions():
        return "grouped"
    return "depthwise"


def dilated_conv_kernel(device_type: str = "CPU") -> str:
    """How a dilated depthwise convolution runs on a device of this type: ``"grouped"`` or ``"depthwise"``.

    The form forced by `set_dilated_conv_kernel` or ``DEEPRX_DILATED_CONV``
    if any; otherwise ``"grouped"`` on a GPU and on a CPU whose oneDNN
    kernels are on and that has the instructions for which TensorFlow turns
    them on by default, ``"depthwise"`` elsewhere (decided once per process
    and device type).

    Parameters
    ----------
    device_type : str
        ``"CPU"`` or ``"GPU"`` (TensorFlow's device types).

    Returns
    -------
    str
    """
    form = _forced or _check_kernel(os.environ.get(DILATED_CONV_ENV, "auto"), DILATED_CONV_ENV)
    return _auto_kernel(device_type.upper()) if form == "auto" else form


def _device_type(variable) -> str:
    """The type of the device a variable lives on (where its layer runs); the default device's if unset."""
    device = tf.DeviceSpec.from_string(getattr(variable, "device", "") or "").device_type
    if device:
        return device
    return "GPU" if tf.config.list_logical_devices("GPU") else "CPU"


@keras.utils.register_keras_serializable("deeprx")
class GroupedDepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """`tf_keras.layers.DepthwiseConv2D` whose dilated form runs as a grouped convolution where that is faster.

    Takes the same arguments and holds the same weights as
    `tf_keras.layers.DepthwiseConv2D`: kernel ``[kh, kw, in_channels,
    depth_multiplier]`` (and bias). Dilated, with unit strides and
    channels-last data, it runs in the form `dilated_conv_kernel` gives the
    device its kernel lives on; otherwise it is that layer.

    Input
    -----
    inputs : [batch, rows, cols, in_channels], tf.float32

    Output
    ------
    [batch, rows', cols', in_channels * depth_multiplier], tf.float32

    Example
    -------
    >>> layer = GroupedDepthwiseConv2D(3, padding="same", depth_multiplier=2, dilation_rate=(2, 3))
    >>> layer(tf.zeros([1, 14, 48, 4])).shape
    TensorShape([1, 14, 48, 8])
    """

    def _grouped(self) -> bool:
        """Whether this call runs as a grouped convolution (decided when a graph is traced)."""
        return (tuple(self.dilation_rate) != (1, 1) and tuple(self.strides) == (1, 1)
                and self.data_format == "channels_last"
                and dilated_conv_kernel(_device_type(self.depthwise_kernel)) == "grouped")

    def call(self, inputs):
        if not self._grouped():
            return super().call(inputs)
        kh, kw, in_channels, multiplier = self.depthwise_kernel.shape
        # [kh, kw, in, m] -> [kh, kw, 1, in * m]: group c (input channel c) makes outputs c*m..c*m+m-1
        kernel = tf.reshape(self.depthwise_kernel, [kh, kw, 1, in_channels * multiplier])
        outputs = tf.nn.conv2d(inputs, kernel, strides=1, padding=self.padding.upper(),
                               dilations=list(self.dilation_rate))
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        return outputs if self.activation is None else self.activation(outputs)


def with_keras_layers(model: keras.Model) -> keras.Model:
    """A copy of ``model`` with each `GroupedDepthwiseConv2D` as Keras' own ``DepthwiseConv2D``.

    Same layer names, configuration and weights, the same function up to
    float32 summation order; for tools that recognise only Keras' layer
    classes (the TFLite converter, tensorflow-model-optimization). A model
    without grouped layers is returned as it is.

    Parameters
    ----------
    model : tf_keras.Model
        A functional model, for example `deeprx_tf.build_deeprx`.

    Returns
    -------
    tf_keras.Model
    """
    if not any(isinstance(layer, GroupedDepthwiseConv2D) for layer in model.layers):
        return model

    def clone(layer):
        if isinstance(layer, GroupedDepthwiseConv2D):
            return keras.layers.DepthwiseConv2D.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        copy.get_layer(layer.name).set_weights(layer.get_weights())
    return copy
