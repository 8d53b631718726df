"""Batch normalization folded away for inference: the graph an exported DeepRx runs.

In inference a BatchNormalization is a per-channel affine map,
``y = s * (x - mean) + beta`` with ``s = gamma / sqrt(var + eps)``. DeepRx's
blocks are pre-activation (BN -> ReLU -> depthwise -> pointwise -> BN -> ReLU
-> ...), so left as it is each BN becomes two TFLite ops (MUL, then ADD
with the ReLU fused), and in a full-integer int8 file every op output is
one more rounding to 8 bits; the BN after a pointwise convolution is not
folded into it either, because the convolution's own output is quantized
first (on a range set by the un-normalized channels). `fold_batch_norms`
rewrites the model into the same function with

- a BN that follows a convolution it alone reads folded into that
  convolution's kernel and bias,
- any other BN as a 1x1 depthwise convolution (per-channel scale as the
  kernel, shift as the bias),
- a ReLU that alone reads either fused into it as its activation,

so each BN (with its ReLU) costs at most one op and one rounding. On the
shipped model the int8 graph goes from 107 to 73 ops.
"""

from __future__ import annotations

import copy

import numpy as np
import tf_keras as keras

from deeprx_tf.layers import with_keras_layers

_CONVOLUTIONS = ("Conv2D", "DepthwiseConv2D")


def batch_norm_affine(layer: keras.layers.BatchNormalization) -> tuple[np.ndarray, np.ndarray]:
    """A BatchNormalization layer in inference as ``(scale, shift)``: ``y = scale * x + shift``.

    Returns
    -------
    (scale, shift) : ([channels], float64, [channels], float64)
    """
    variance = layer.moving_variance.numpy().astype(np.float64)
    scale = 1.0 / np.sqrt(variance + layer.epsilon)
    if layer.scale:
        scale = scale * layer.gamma.numpy()
    shift = -scale * layer.moving_mean.numpy()
    if layer.center:
        shift = shift + layer.beta.numpy()
    return scale, shift


def _inbound(entry: dict) -> list[str]:
    if len(entry["inbound_nodes"]) > 1:
        raise ValueError(f"layer {entry['name']} is called more than once; fold_batch_norms "
                         "needs each layer used once")
    return [node[0] for nodes in entry["inbound_nodes"] for node in nodes]


def _is_plain_relu(entry: dict) -> bool:
    config = entry["config"]
    return (entry["class_name"] == "ReLU" and config.get("max_value") is None
            and not config.get("negative_slope") and not config.get("threshold"))


def _folded_kernel(layer, scale: np.ndarray, shift: np.ndarray) -> list[np.ndarray]:
    """``[kernel, bias]`` of a linear convolution followed by ``y = scale * x + shift``."""
    kernel = layer.get_weights()[0].astype(np.float64)
    bias = layer.bias.numpy().astype(np.float64) if layer.use_bias else 0.0
    # the output channel is the last kernel axis of Conv2D; (in, multiplier) of DepthwiseConv2D
    kernel = kernel * scale.reshape(kernel.shape[2:] if isinstance(layer, keras.layers.DepthwiseConv2D)
                                    else (-1,))
    return [kernel.astype(np.float32), (bias * scale + shift).astype(np.float32)]


def fold_batch_norms(model: keras.Model) -> keras.Model:
    """The same function as ``model`` with its BatchNormalization layers folded away.

    Parameters
    ----------
    model : tf_keras.Model
        A functional model (for example `deeprx_tf.build_deeprx`),
        channels last, each layer called once.

    Returns
    -------
    tf_keras.Model
        A new model of Keras' own layer classes (`deeprx_tf.layers.with_keras_layers`),
        same inputs and outputs, weights set, no BatchNormalization layers: a BN folded into the convolution before it
        disappears (the convolution keeps its name), any other becomes a 1x1
        ``DepthwiseConv2D`` of the BN's name, and a ReLU fused into either
        disappears. Equal to ``model`` up to float32 rounding (summation
        order); ``model`` is not changed.

    Raises
    ------
    ValueError
        If a layer is called more than once or a BN normalizes another axis
        than the last.
    """
    model = with_keras_layers(model)
    config = copy.deepcopy(model.get_config())
    entries = {entry["name"]: entry for entry in config["layers"]}
    readers: dict[str, list[str]] = {name: [] for name in entries}
    for entry in config["layers"]:
        for name in _inbound(entry):
            readers[name].append(entry["name"])
    outputs = {node[0] for node in config["output_layers"]}
    weights = {layer.name: layer.get_weights() for layer in model.layers}
    replaced: dict[str, str] = {}  # removed layer -> the layer whose output replaces its output

    def sole_reader(name: str) -> dict | None:
        if name in outputs or len(readers[name]) != 1:
            return None
        return entries[readers[name][0]]

    for entry in list(config["layers"]):
        if entry["class_name"] != "BatchNormalization":
            continue
        layer = model.get_layer(entry["name"])
        if [axis % 4 for axis in np.atleast_1d(layer.axis)] != [3]:
            raise ValueError(f"layer {layer.name}: only channels-last batch normalization can be folded")
        scale, shift = batch_norm_affine(layer)
        (source,) = _inbound(entry)
        producer = entries[source]
        if (producer["class_name"] in _CONVOLUTIONS and producer["config"]["activation"] == "linear"
                and sole_reader(source) is entry):
            weights[source] = _folded_kernel(model.get_layer(source), scale, shift)
            producer["config"]["use_bias"] = True
            replaced[entry["name"]] = source
            config["layers"].remove(entry)
            target = producer
        else:
            entry["class_name"] = "DepthwiseConv2D"
            entry["config"] = {"name": entry["name"], "trainable": entry["config"]["trainable"],
                               "dtype": entry["config"]["dtype"], "kernel_size": (1, 1),
                               "activation": "linear", "use_bias": True}
            weights[entry["name"]] = [scale.reshape(1, 1, -1, 1).astype(np.float32),
                                      shift.astype(np.float32)]
            target = entry
        relu = sole_reader(entry["name"])
        if relu is not None and _is_plain_relu(relu):
            target["config"]["activation"] = "relu"
            replaced[relu["name"]] = target["name"]
            config["layers"].remove(relu)

    def resolve(name: str) -> str:
        while name in replaced:
            name = replaced[name]
        return name

    for entry in config["layers"]:
        for nodes in entry["inbound_nodes"]:
            for node in nodes:
                node[0] = resolve(node[0])
    for node in config["output_layers"]:
        node[0] = resolve(node[0])
    folded = keras.Model.from_config(config)
    for layer in folded.layers:
        layer.set_weights(weights[layer.name])
    return folded


def set_folded_weights(model: keras.Model, folded: keras.Model) -> keras.Model:
    """Set ``model``'s weights so that `fold_batch_norms` (``model``) computes ``folded``.

    The inverse of folding, for weights trained in the folded graph (for
    example by quantization-aware training, `deeprx_tf.qat`): a BN folded into
    the convolution before it becomes the identity (gamma 1, mean 0,
    variance ``1 - epsilon``) and the convolution takes the folded kernel and
    bias (the bias goes to the BN's beta if the convolution has none); a BN
    that became a 1x1 depthwise convolution takes its kernel as gamma and
    its bias as beta, mean 0, variance ``1 - epsilon``.

    Parameters
    ----------
    model : tf_keras.Model
        The unfolded model.
    folded : tf_keras.Model
        A model of ``fold_batch_norms(model)``'s architecture.

    Returns
    -------
    tf_keras.Model
        ``model``, its weights set.

    Raises
    ------
    ValueError
        If ``folded`` does not have ``fold_batch_norms(model)``'s layers, or a
        BN without beta (or gamma) would need one.
    """
    kept = {layer.name: layer for layer in folded.layers}
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    # the convolution each BN folded away was folded into
    into = {norm.name: norm.inbound_nodes[0].inbound_layers for norm in norms if norm.name not in kept}
    missing = [layer.name for layer in model.layers
               if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)
               and layer.name not in kept]
    if missing:
        raise ValueError(f"the folded model has no layer {missing[0]}: it is not fold_batch_norms "
                         "of this model")
    folded_into = {conv.name for conv in into.values()}
    for layer in model.layers:
        if layer.weights and layer.name in kept and layer.name not in folded_into \
                and not isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights(kept[layer.name].get_weights())
    for norm in norms:
        if norm.name in kept:  # became a 1x1 depthwise convolution
            kernel, bias = kept[norm.name].get_weights()
            _set_batch_norm(norm, kernel.reshape(-1), bias)
            continue
        conv = into[norm.name]
        kernel, bias = kept[conv.name].get_weights()
        if conv.use_bias:
            conv.set_weights([kernel, bias])
            bias = np.zeros_like(bias)
        else:
            conv.set_weights([kernel])
        _set_batch_norm(norm, np.ones_like(bias), bias)
    return model


def _set_batch_norm(layer: keras.layers.BatchNormalization, scale: np.ndarray, shift: np.ndarray) -> None:
    """Make a BN compute ``scale * x + shift`` in inference."""
    values = {"moving_mean": np.zeros_like(scale),
              "moving_variance": np.full_like(scale, 1.0 - layer.epsilon)}
    for name, value, default in (("gamma", scale, 1.0), ("beta", shift, 0.0)):
        if getattr(layer, name) is not None:
            values[name] = value
        elif not np.allclose(value, default):
            raise ValueError(f"layer {layer.name} has no {name} to hold the folded weights")
    for weight in layer.weights:
        weight.assign(values[weight.name.split("/")[-1].split(":")[0]].astype(np.float32))
