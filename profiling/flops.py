"""FLOPs per inference with the TensorFlow profiler, cross-checked by an analytic count.

`count_flops` freezes a batch-1 concrete function of a Keras model
(variables folded into constants), runs ``tf.compat.v1.profiler`` on the
graph, and groups the per-op counts by the model's layers and blocks
(layer names ``block_<i>/...`` group into ``block_<i>``). The profiler
counts 2 FLOPs per multiply-accumulate; ReLU, batch normalisation, adds
and data-movement ops count 0 and are listed as such.

`build_deeprx`'s dilated depthwise convolutions run as grouped ``Conv2D``
ops with native dilations where that form is chosen (`deeprx_tf.layers`),
which the profiler counts exactly, and otherwise in Keras' own form: a
dilated ``DepthwiseConv2D`` is lowered to
``SpaceToBatchND -> DepthwiseConv2dNative -> BatchToSpaceND``: when the
grid is not a multiple of the dilation, ``SpaceToBatchND`` pads it and the
profiler counts the padded positions too; the count is scaled back to the
layer's real output (the ``BatchToSpaceND`` result), and the correction is
reported.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter, defaultdict

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from link_sim.tfenv import native_stderr_silenced

#: Op types whose FLOPs are multiply-accumulates of a convolution.
CONV_OPS = ("Conv2D", "DepthwiseConv2dNative")
#: Op types that only read constants or pass tensors on: never listed as "counted as zero".
_PLUMBING_OPS = {"Const", "Identity", "Placeholder", "NoOp", "ReadVariableOp"}
_BLOCK = re.compile(r"^(block_\d+)/")


@dataclasses.dataclass(frozen=True)
class LayerFlops:
    """FLOPs of one Keras layer for one inference.

    Attributes
    ----------
    layer : str
        Keras layer name, e.g. ``block_5/depthwise_1``.
    block : str
        ``block_<i>`` for layers of residual block i, else the layer name's
        first part (``conv_in``, ``head``).
    conv_flops : int
        Profiler FLOPs of the layer's convolution ops (corrected for
        space-to-batch padding).
    other_flops : int
        Profiler FLOPs of its other ops (bias adds: one per output element).
    analytic_conv_flops : int or None
        ``2 * MACs`` from the layer's weight and output shapes (convolutions
        only, `None` for layers without a convolution).
    padding_flops : int
        FLOPs the raw profiler count spent on space-to-batch padding and
        that were removed from ``conv_flops``.
    """

    layer: str
    block: str
    conv_flops: int
    other_flops: int
    analytic_conv_flops: int | None
    padding_flops: int = 0

    @property
    def flops(self) -> int:
        return self.conv_flops + self.other_flops


@dataclasses.dataclass(frozen=True)
class FlopsReport:
    """FLOPs of one inference of a model.

    Attributes
    ----------
    input_shape : tuple of int
        The batch-1 input shape profiled, e.g. ``(1, 14, 312, 10)``.
    layers : list of LayerFlops
        Every layer with a nonzero count, in graph order.
    zero_ops : dict
        Op type -> number of ops in the graph the profiler counts as 0 FLOPs
        (ReLU, FusedBatchNormV3, AddV2, SpaceToBatchND, ...).
    """

    input_shape: tuple[int, ...]
    layers: list[LayerFlops]
    zero_ops: dict[str, int]

    @property
    def total_flops(self) -> int:
        """All profiler FLOPs (convolutions and bias adds)."""
        return sum(layer.flops for layer in self.layers)

    @property
    def conv_flops(self) -> int:
        return sum(layer.conv_flops for layer in self.layers)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the convolutions (half their FLOPs)."""
        return self.conv_flops // 2

    def by_block(self) -> dict[str, int]:
        """Block -> FLOPs, in model order (``conv_in``, ``block_1`` ... ``head``)."""
        blocks: dict[str, int] = {}
        for layer in self.layers:
            blocks[layer.block] = blocks.get(layer.block, 0) + layer.flops
        return blocks

    def mismatches(self, rtol: float = 0.0) -> list[str]:
        """Layers whose profiler and analytic convolution FLOPs differ by more than ``rtol``."""
        return [layer.layer for layer in self.layers
                if layer.analytic_conv_flops is not None
                and abs(layer.conv_flops - layer.analytic_conv_flops) > rtol * layer.analytic_conv_flops]

    def to_dict(self) -> dict:
        return {
            "input_shape": list(self.input_shape),
            "total_flops": self.total_flops,
            "conv_flops": self.conv_flops,
            "macs": self.macs,
            "by_block": self.by_block(),
            "layers": [dict(dataclasses.asdict(layer), flops=layer.flops) for layer in self.layers],
            "zero_ops": self.zero_ops,
            "analytic_mismatches": self.mismatches(),
        }


def analytic_conv_flops(model: keras.Model, input_shape) -> dict[str, int]:
    """``2 * MACs`` of every convolution layer from its weights and output shape.

    Parameters
    ----------
    model : tf_keras.Model
    input_shape : sequence of int
        Input shape with batch, e.g. ``(1, 14, 48, 10)``.

    Returns
    -------
    dict
        Layer name -> FLOPs per inference (bias adds excluded). A Conv2D
        costs ``2 kh kw cin cout`` per output position, a DepthwiseConv2D
        ``2 kh kw cin m`` (depth multiplier m), whatever the dilation.
    """
    # a copy of the model on a static-shape input gives every layer's output shape
    static = keras.models.clone_model(
        model, input_tensors=keras.Input(batch_shape=tuple(input_shape), name="static_input"))
    flops = {}
    for layer in static.layers:
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
                                  keras.layers.SeparableConv2D)):
            continue
        positions = int(np.prod(layer.output_shape[:3]))  # batch x rows x cols
        if isinstance(layer, keras.layers.SeparableConv2D):
            # depthwise kh*kw*cin*m, then pointwise (cin*m)*cout MACs per position
            kh, kw, cin, m = layer.depthwise_kernel.shape
            macs = kh * kw * cin * m + int(np.prod(layer.pointwise_kernel.shape))
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            macs = int(np.prod(layer.depthwise_kernel.shape))  # kh*kw*cin*m
        else:
            macs = int(np.prod(layer.kernel.shape))  # kh*kw*cin*cout
        flops[layer.name] = 2 * positions * int(macs)
    return flops


def _frozen_graph(model: keras.Model, input_shape) -> tf.Graph:
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec(tuple(input_shape), tf.float32))
    with native_stderr_silenced():  # freezing runs a grappler session, which logs through absl
        return convert_variables_to_constants_v2(concrete).graph


def _profiler_counts(graph: tf.Graph) -> dict[str, int]:
    """Op name -> profiler FLOPs (only ops with a nonzero count appear)."""
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    root = tf.compat.v1.profiler.profile(graph, cmd="scope", options=options)
    counts = {}
    stack = list(root.children)
    while stack:
        node = stack.pop()
        if node.float_ops:
            counts[node.name] = int(node.float_ops)
        stack.extend(node.children)
    return counts


def _layer_of(op_name: str, layer_names: list[str]) -> str | None:
    """The Keras layer an op belongs to: the longest layer name that prefixes its scope."""
    # op names are "<model name>/<layer name>/<op>"; layer names may contain "/"
    scope = op_name.split("/", 1)[1] if "/" in op_name else op_name
    best = None
    for name in layer_names:
        if (scope == name or scope.startswith(name + "/")) and (best is None or len(name) > len(best)):
            best = name
    return best


def _padding_ratio(op: tf.Operation) -> float:
    """Real / counted output positions of a conv fed by SpaceToBatchND (1 otherwise)."""
    source = op.inputs[0].op
    if source.type != "SpaceToBatchND":
        return 1.0
    consumers = [c for c in op.outputs[0].consumers() if c.type == "BatchToSpaceND"]
    if not consumers:
        return 1.0
    counted = int(np.prod(op.outputs[0].shape.as_list()))
    real = int(np.prod(consumers[0].outputs[0].shape.as_list()))
    return real / counted


def block_of(layer_name: str) -> str:
    """``block_<i>`` for a residual block's layers, else the name's first part."""
    match = _BLOCK.match(layer_name)
    return match.group(1) if match else layer_name.split("/", 1)[0]


def count_flops(model: keras.Model, input_shape) -> FlopsReport:
    """Profile one inference of ``model`` with the TensorFlow profiler.

    Parameters
    ----------
    model : tf_keras.Model
        Any Keras model with one float32 input, e.g. a DeepRx from
        `deeprx_tf.build_deeprx`.
    input_shape : sequence of int
        The input shape; the batch dimension is forced to 1, e.g.
        ``(14, 312, 10)`` or ``(1, 14, 312, 10)``.

    Returns
    -------
    FlopsReport
        Per-layer and per-block FLOPs, the analytic cross-check and the ops
        counted as zero.

    Example
    -------
    >>> from deeprx_tf import DeepRxConfig, build_deeprx
    >>> config = DeepRxConfig().scaled(0.25)
    >>> report = count_flops(build_deeprx(config), (14, 48, config.num_input_channels))
    >>> report.mismatches()  # the profiler agrees with the analytic count on every convolution
    []
    """
    shape = tuple(int(d) for d in input_shape)
    if len(shape) == len(model.input_shape) - 1:
        shape = (1,) + shape
    if len(shape) != len(model.input_shape) or any(d < 1 for d in shape):
        raise ValueError(f"input shape {input_shape} does not fit the model's input {model.input_shape}")
    shape = (1,) + shape[1:]
    graph = _frozen_graph(model, shape)
    counts = _profiler_counts(graph)
    layer_names = [layer.name for layer in model.layers]
    analytic = analytic_conv_flops(model, shape)

    conv, other, padding = defaultdict(float), Counter(), Counter()
    order: list[str] = []
    zero_ops: Counter = Counter()
    for op in graph.get_operations():
        layer = _layer_of(op.name, layer_names)
        flops = counts.get(op.name, 0)
        if not flops:
            if op.type not in _PLUMBING_OPS:
                zero_ops[op.type] += 1
            continue
        if layer is None:
            layer = op.name
        if layer not in order:
            order.append(layer)
        if op.type in CONV_OPS:
            real = flops * _padding_ratio(op)
            conv[layer] += real
            padding[layer] += flops - real
        else:
            other[layer] += flops
    layers = [LayerFlops(layer=name, block=block_of(name), conv_flops=int(round(conv[name])),
                         other_flops=int(other[name]), analytic_conv_flops=analytic.get(name),
                         padding_flops=int(round(padding[name])))
              for name in order]
    return FlopsReport(input_shape=shape, layers=layers, zero_ops=dict(zero_ops))
