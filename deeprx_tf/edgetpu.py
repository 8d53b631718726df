"""The Coral Edge TPU's constraints: undilating convolutions, the op report, ``edgetpu_compiler``.

The Edge TPU runs a fully int8 TFLite graph of a fixed list of builtin ops
and takes neither SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND nor convolutions
whose dilation differs between the two axes; the first op it cannot map
sends it and everything after it to the host CPU. DeepRx's dilations
(2, 3) and (3, 6) are anisotropic, so `undilate` rewrites each dilated
convolution into the undilated convolution with a zero-stuffed kernel,
which computes the same function, and `op_report` checks a ``.tflite`` file
op by op, reading each convolution's dilation factors from the flatbuffer
(op names alone do not show them).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import tf_keras as keras

from deeprx_tf.flatbuffer import constant_data, op_name, read_model, type_name

#: TFLite builtin ops the Edge TPU compiler maps (Coral's "TensorFlow models on the Edge TPU"
#: supported-operations table), as TFLite's BuiltinOperator names.
EDGETPU_SUPPORTED_OPS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS",
    "FULLY_CONNECTED", "L2_NORMALIZATION", "LOGISTIC", "MAXIMUM", "MAX_POOL_2D", "MEAN", "MINIMUM",
    "MUL", "PACK", "PAD", "PRELU", "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6",
    "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE",
    "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM",
    "SQUARED_DIFFERENCE", "TANH", "TRANSPOSE", "TRANSPOSE_CONV",
})

#: Ops whose options carry dilation factors that must be equal on the Edge TPU.
_DILATED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")

#: Tensor types the Edge TPU computes with (int32 only as the bias of `_BIASED_OPS`).
_INT8_TYPES = ("INT8", "UINT8")
_BIASED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def _conv_dilation(layer) -> tuple[int, int]:
    return tuple(int(d) for d in layer.dilation_rate)


def _is_dilated_conv(layer) -> bool:
    conv = isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))
    return conv and _conv_dilation(layer) != (1, 1)


def _undilated_config(layer) -> dict:
    if isinstance(layer, keras.layers.SeparableConv2D):
        raise ValueError(f"layer {layer.name}: dilated SeparableConv2D cannot be undilated; "
                         "build the model with DepthwiseConv2D + Conv2D")
    if layer.strides != (1, 1) or layer.padding != "same":
        raise ValueError(f"layer {layer.name}: only stride-1 'same' dilated convolutions "
                         "can be undilated exactly")
    config = layer.get_config()
    dilation = _conv_dilation(layer)
    config["kernel_size"] = tuple((k - 1) * d + 1 for k, d in zip(layer.kernel_size, dilation))
    config["dilation_rate"] = (1, 1)
    return config


def zero_stuff(kernel: np.ndarray, dilation: tuple[int, int]) -> np.ndarray:
    """A dilated convolution's kernel as the equivalent undilated kernel.

    Parameters
    ----------
    kernel : [kh, kw, ...] array
        Kernel of a 2D convolution (``Conv2D`` or ``DepthwiseConv2D``).
    dilation : (int, int)
        Its dilation (rows, columns).

    Returns
    -------
    [(kh - 1) * dh + 1, (kw - 1) * dw + 1, ...] array
        The kernel's taps at every ``dh``-th row and ``dw``-th column,
        zeros between them.
    """
    dh, dw = dilation
    kh, kw = kernel.shape[:2]
    stuffed = np.zeros(((kh - 1) * dh + 1, (kw - 1) * dw + 1, *kernel.shape[2:]), kernel.dtype)
    stuffed[::dh, ::dw] = kernel
    return stuffed


def undilate(model: keras.Model) -> keras.Model:
    """A copy of a model with each dilated convolution rewritten as an undilated one.

    A stride-1, ``'same'``-padded 2D convolution (or depthwise convolution)
    with kernel ``k`` and dilation ``d`` equals the undilated convolution
    with kernel ``(k - 1) * d + 1`` whose taps are the original ones at
    multiples of ``d`` and zero elsewhere (`zero_stuff`); the padding is
    the same. The copy computes the same function with isotropic
    (dilation 1) convolutions only, at the price of multiplying by the
    zeros: a 3x3 depthwise kernel dilated (3, 6) becomes 7x13.

    Parameters
    ----------
    model : tf_keras.Model
        A functional model (for example `build_deeprx`).

    Returns
    -------
    tf_keras.Model
        Same layer names, inputs and outputs; weights copied.
    """

    def clone(layer):
        config = _undilated_config(layer) if _is_dilated_conv(layer) else layer.get_config()
        return layer.__class__.from_config(config)

    rewritten = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        weights = layer.get_weights()
        if _is_dilated_conv(layer):
            weights = [zero_stuff(weights[0], _conv_dilation(layer)), *weights[1:]]
        rewritten.get_layer(layer.name).set_weights(weights)
    return rewritten


def dilated_layers(model: keras.Model) -> list[str]:
    """Names of a model's dilated convolution layers."""
    return [layer.name for layer in model.layers if _is_dilated_conv(layer)]


# --- the op report ------------------------------------------------------------------------------

def _tensors(subgraph, indices) -> list:
    """An op's tensors (index -1 marks an omitted optional input)."""
    return [subgraph.tensors[i] for i in (indices if indices is not None else []) if i >= 0]


def read_ops(tflite_model: bytes) -> list[dict]:
    """The ops of a ``.tflite`` flatbuffer's main subgraph, in execution order.

    Returns
    -------
    list of dict
        Per op: ``index``, ``op`` (TFLite builtin name, or the custom code),
        ``input_types`` and ``output_types`` (tensor type names), the
        largest ``rank_gt1`` (dimensions larger than 1) over its activation
        tensors (not its weights) and, for convolutions, ``dilation``
        ``[h, w]``.
    """
    model = read_model(tflite_model)
    subgraph = model.subgraphs[0]
    ops = []
    for index, op in enumerate(subgraph.operators):
        name = op_name(model, op)
        inputs, outputs = _tensors(subgraph, op.inputs), _tensors(subgraph, op.outputs)
        # activations: the tensors without constant data (weights and biases have a buffer)
        activations = [t for t in inputs + outputs if constant_data(model, t) is None]
        entry = {
            "index": index, "op": name,
            "input_types": [type_name(t) for t in inputs],
            "output_types": [type_name(t) for t in outputs],
            "rank_gt1": max((int(np.sum(np.asarray(t.shape) > 1)) for t in activations
                             if t.shape is not None), default=0),
        }
        options = op.builtinOptions
        if name in _DILATED_OPS and options is not None:
            entry["dilation"] = [int(options.dilationHFactor), int(options.dilationWFactor)]
        ops.append(entry)
    return ops


def _edgetpu_problems(entry: dict) -> list[str]:
    """Why one op (a `read_ops` entry) cannot run on the Edge TPU; empty if it can."""
    problems = []
    if entry["op"] not in EDGETPU_SUPPORTED_OPS:
        problems.append(f"{entry['op']} is not an Edge TPU op")
    dilation = entry.get("dilation")
    if dilation is not None and dilation[0] != dilation[1]:
        problems.append(f"anisotropic dilation {dilation[0]}x{dilation[1]}")
    # every tensor 8-bit, except the int32 bias (input 2) of a convolution or fully connected op
    types = entry["output_types"] + [t for i, t in enumerate(entry["input_types"])
                                     if not (i == 2 and entry["op"] in _BIASED_OPS and t == "INT32")]
    wrong = sorted(set(types) - set(_INT8_TYPES))
    if wrong:
        problems.append(f"non-8-bit tensors ({', '.join(wrong)})")
    if entry["rank_gt1"] > 3:
        problems.append(f"{entry['rank_gt1']} dimensions larger than 1 (at most 3)")
    return problems


def op_report(tflite_model: bytes) -> dict:
    """Check every op of a ``.tflite`` model against the Edge TPU's constraints.

    Returns
    -------
    dict
        ``ops``: the `read_ops` entries, each with ``edgetpu`` (mappable or
        not) and ``problems``; ``op_counts``: ops by name;
        ``num_mappable`` / ``num_ops``; ``all_mappable``;
        ``first_unmappable``: index of the first op the Edge TPU cannot
        map (it and every op after it would run on the CPU), or `None`.
    """
    ops = read_ops(tflite_model)
    counts: dict[str, int] = {}
    first = None
    for entry in ops:
        entry["problems"] = _edgetpu_problems(entry)
        entry["edgetpu"] = not entry["problems"]
        counts[entry["op"]] = counts.get(entry["op"], 0) + 1
        if first is None and entry["problems"]:
            first = entry["index"]
    num_mappable = sum(entry["edgetpu"] for entry in ops)
    return {"num_ops": len(ops), "num_mappable": num_mappable, "all_mappable": first is None,
            "first_unmappable": first, "op_counts": dict(sorted(counts.items())), "ops": ops}


# --- edgetpu_compiler --------------------------------------------------------------------------

COMPILER = "edgetpu_compiler"


def run_edgetpu_compiler(tflite_path: str | Path, out_dir: str | Path) -> dict:
    """Compile a ``.tflite`` file with Coral's ``edgetpu_compiler`` where it is installed.

    Returns
    -------
    dict
        ``available`` (whether the compiler is on the PATH); where it is:
        ``returncode``, ``log`` (its output), ``compiled`` (path of the
        ``_edgetpu.tflite`` file or `None`), and from the log
        ``ops_on_edgetpu`` / ``ops_on_cpu`` where it states them.
    """
    compiler = shutil.which(COMPILER)
    if compiler is None:
        return {"available": False,
                "note": f"{COMPILER} is not on the PATH (it comes from Coral's apt repository); "
                        "the graph was checked against the Edge TPU's op list instead"}
    result = subprocess.run([compiler, "--out_dir", str(out_dir), "--show_operations", str(tflite_path)],
                            capture_output=True, text=True, check=False)
    log = result.stdout + result.stderr
    compiled = Path(out_dir) / (Path(tflite_path).stem + "_edgetpu.tflite")
    report = {"available": True, "compiler": compiler, "returncode": result.returncode, "log": log,
              "compiled": str(compiled) if compiled.is_file() else None}
    for key, pattern in (("ops_on_edgetpu", r"Number of operations that will run on Edge TPU:\s*(\d+)"),
                         ("ops_on_cpu", r"Number of operations that will run on CPU:\s*(\d+)")):
        match = re.search(pattern, log)
        report[key] = int(match.group(1)) if match else None
    return report
