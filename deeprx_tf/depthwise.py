"""Depthwise convolutions with a depth multiplier, rewritten in a ``.tflite`` file for LiteRT's fast kernels.

DeepRx's depthwise convolutions have a depth multiplier of 2: each input
channel ``c`` feeds two output channels, ``c * 2`` and ``c * 2 + 1``.
LiteRT (its XNNPACK delegate, on by default, and its own kernels) runs
a multiplier of 1 much faster than a larger one, in int8 by an order of
magnitude on the machine of ``docs/benchmarks.md``, which measures both.
`unit_depth_multipliers` rewrites the file into the same function with
multiplier 1 everywhere:

- a CONCATENATION repeats the input ``m`` times along the channels
  (``[x, x]``: channel ``j * C + c`` is input channel ``c``), with the
  input's own type and quantization, so an int8 copy is exact;
- the depthwise convolution, now of multiplier 1 on ``m * C`` channels,
  takes its kernel, bias and per-channel quantization parameters with the
  output channels reordered from ``c * m + j`` to ``j * C + c``;
- the convolutions that read its output take their kernels' input
  channels in that same order.

The rewrite is a permutation: an int8 file computes bit for bit what it
computed before (every sum is over the same integer products); a float
file sums the pointwise convolution in another order. A depthwise
convolution whose output another kind of op reads (which cannot absorb
the new channel order) is left as it is.
"""

from __future__ import annotations

import numpy as np

from deeprx_tf.flatbuffer import (builtin_code, constant_data, operator_code_builtin, read_model, schema,
                                  type_name, write_model)

#: Numpy type of a constant tensor's data, by TFLite tensor type name.
_NUMPY_TYPES = {"FLOAT32": np.float32, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
                "INT64": np.int64}
#: Op version of CONCATENATION for an input of each type (TFLite's op versioning).
_CONCATENATION_VERSIONS = {"FLOAT32": 1, "INT8": 2, "INT16": 3}


def _constant(model, tensor) -> np.ndarray | None:
    """A tensor's constant data, shaped; `None` if the tensor has no buffer of data."""
    data = constant_data(model, tensor)
    if data is None:
        return None
    return np.frombuffer(np.asarray(data, np.uint8).tobytes(), _NUMPY_TYPES[type_name(tensor)]).reshape(tensor.shape)


def _set_constant(model, tensor, values: np.ndarray) -> None:
    """Give a tensor new data: in its buffer if it alone reads it, else in a buffer of its own
    (the converter shares the buffer of equal constants)."""
    data = np.frombuffer(np.ascontiguousarray(values).tobytes(), np.uint8)
    shared = sum(other.buffer == tensor.buffer for subgraph in model.subgraphs for other in subgraph.tensors)
    if shared == 1:
        model.buffers[tensor.buffer].data = data
        return
    buffer = schema().BufferT()
    buffer.data = data
    model.buffers.append(buffer)
    tensor.buffer = len(model.buffers) - 1


def _permute_channels(quantization, axis: int, perm: np.ndarray) -> None:
    """Reorder per-channel quantization parameters along ``axis`` (per-tensor ones stay)."""
    if quantization is None or quantization.scale is None or len(quantization.scale) <= 1:
        return
    if quantization.quantizedDimension != axis:
        raise ValueError(f"per-channel quantization on axis {quantization.quantizedDimension}, "
                         f"not on the permuted axis {axis}")
    quantization.scale = np.asarray(quantization.scale)[perm]
    quantization.zeroPoint = np.asarray(quantization.zeroPoint)[perm]


def _opcode_index(model, builtin: int, version: int) -> int:
    """The index of an operator code, added to the model if it has none."""
    for index, code in enumerate(model.operatorCodes):
        if operator_code_builtin(code) == builtin and code.version == version:
            return index
    code = schema().OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), version
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _depth_multiplier(subgraph, op) -> int:
    """A depthwise convolution's multiplier, from its shapes (what LiteRT's kernels go by)."""
    source, weights = (subgraph.tensors[i] for i in op.inputs[:2])
    return int(weights.shape[-1]) // int(source.shape[-1])


def _rewrite_one(model, subgraph, position: int) -> bool:
    """Rewrite the depthwise convolution at ``subgraph.operators[position]`` if only convolutions
    read its output (as their input, not as weights); whether it did (the CONCATENATION is then
    at ``position``, the depthwise convolution at ``position + 1``)."""
    ops = schema().BuiltinOperator
    op = subgraph.operators[position]
    source, weights, bias = (subgraph.tensors[i] if i >= 0 else None for i in op.inputs[:3])
    multiplier = _depth_multiplier(subgraph, op)
    (output,) = (int(i) for i in op.outputs)
    readers = [reader for reader in subgraph.operators if output in list(reader.inputs)]
    if output in list(subgraph.outputs) or any(
            builtin_code(model, r) != ops.CONV_2D or list(r.inputs).index(output) != 0
            or list(r.inputs).count(output) > 1 for r in readers):
        return False
    kernel = _constant(model, weights)
    reader_kernels = [subgraph.tensors[r.inputs[1]] for r in readers]
    if kernel is None or any(_constant(model, t) is None for t in reader_kernels):
        return False  # weights computed at run time (a DEQUANTIZE, say): nothing to reorder
    channels = int(source.shape[-1])
    # new channel j * C + c is old channel c * m + j
    perm = np.arange(channels * multiplier).reshape(channels, multiplier).T.reshape(-1)

    repeated = schema().TensorT()
    repeated.shape = np.array([*source.shape[:-1], channels * multiplier], np.int32)
    if source.shapeSignature is not None and len(source.shapeSignature):
        repeated.shapeSignature = np.array([*source.shapeSignature[:-1], channels * multiplier], np.int32)
    repeated.type, repeated.buffer = source.type, 0
    name = subgraph.tensors[output].name
    repeated.name = f"{name.decode() if isinstance(name, bytes) else name}/repeated_input"
    repeated.quantization = source.quantization  # the same values: the same parameters
    subgraph.tensors.append(repeated)
    concat = schema().OperatorT()
    concat.opcodeIndex = _opcode_index(model, ops.CONCATENATION, _CONCATENATION_VERSIONS[type_name(source)])
    concat.inputs = np.array([op.inputs[0]] * multiplier, np.int32)
    concat.outputs = np.array([len(subgraph.tensors) - 1], np.int32)
    concat.builtinOptionsType = schema().BuiltinOptions.ConcatenationOptions
    concat.builtinOptions = schema().ConcatenationOptionsT()
    concat.builtinOptions.axis = len(source.shape) - 1

    _set_constant(model, weights, kernel[..., perm])  # [1, h, w, channels]
    _permute_channels(weights.quantization, len(weights.shape) - 1, perm)
    if bias is not None:
        _set_constant(model, bias, _constant(model, bias)[perm])
        _permute_channels(bias.quantization, 0, perm)
    for tensor in reader_kernels:  # CONV_2D kernels are [out, h, w, in]: reorder their input channels
        _set_constant(model, tensor, _constant(model, tensor)[..., perm])
    inputs = np.array(op.inputs, np.int32)
    inputs[0] = len(subgraph.tensors) - 1
    op.inputs = inputs
    op.builtinOptions.depthMultiplier = 1
    subgraph.operators.insert(position, concat)
    return True


def unit_depth_multipliers(tflite_model: bytes) -> tuple[bytes, dict]:
    """A ``.tflite`` flatbuffer with every depthwise convolution of depth multiplier ``m > 1`` as a
    channel repeat and a depthwise convolution of multiplier 1 (see the module's text).

    Parameters
    ----------
    tflite_model : bytes
        The flatbuffer (float, int8 or int16x8).

    Returns
    -------
    (bytes, dict)
        The rewritten flatbuffer (the input itself if nothing was
        rewritten) and ``{"rewritten": number of depthwise convolutions
        rewritten, "kept": number left with a multiplier (another op reads
        their output)}``.
    """
    model = read_model(tflite_model)
    depthwise = schema().BuiltinOperator.DEPTHWISE_CONV_2D
    rewritten = kept = 0
    for subgraph in model.subgraphs:
        position = 0
        while position < len(subgraph.operators):
            op = subgraph.operators[position]
            if builtin_code(model, op) == depthwise and _depth_multiplier(subgraph, op) > 1:
                if _rewrite_one(model, subgraph, position):
                    rewritten += 1
                    position += 1  # past the CONCATENATION inserted before it
                else:
                    kept += 1
            position += 1
    info = {"rewritten": rewritten, "kept": kept}
    if not rewritten:
        return tflite_model, info
    return write_model(model, len(tflite_model) + 1024), info
