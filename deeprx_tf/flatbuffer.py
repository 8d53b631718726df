"""Reading a ``.tflite`` flatbuffer with LiteRT's schema: its ops' names and its tensors' types.

`deeprx_tf.edgetpu` reads a file op by op (the Edge TPU report) and
`deeprx_tf.depthwise` rewrites one; both go through these helpers, which
own the schema's two quirks: an op's builtin code is the larger of its
``builtinCode`` and ``deprecatedBuiltinCode`` (files of older schemas set
only the second), and type and op names are enum values.
"""

from __future__ import annotations

import functools


def schema():
    """LiteRT's flatbuffer schema module (``ai_edge_litert.schema_py_generated``)."""
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def read_model(tflite_model: bytes):
    """A flatbuffer as the schema's mutable object tree (``ModelT``)."""
    return schema().ModelT.InitFromPackedBuf(bytearray(tflite_model), 0)


def write_model(model, size_hint: int = 1024) -> bytes:
    """A ``ModelT`` packed back into a ``.tflite`` flatbuffer."""
    import flatbuffers

    builder = flatbuffers.Builder(size_hint)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@functools.cache
def _enum_names(enum_name: str) -> dict[int, str]:
    return {value: name for name, value in vars(getattr(schema(), enum_name)).items()
            if not name.startswith("_")}


def operator_code_builtin(code) -> int:
    """The builtin operator of an ``OperatorCodeT``."""
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def builtin_code(model, op) -> int:
    """The builtin operator code of one of ``model``'s ops."""
    return operator_code_builtin(model.operatorCodes[op.opcodeIndex])


def op_name(model, op) -> str:
    """An op's TFLite builtin name (``CONV_2D``), or ``CUSTOM:<code>``."""
    name = _enum_names("BuiltinOperator").get(builtin_code(model, op), str(builtin_code(model, op)))
    if name == "CUSTOM":
        custom = model.operatorCodes[op.opcodeIndex].customCode or b""
        name = f"CUSTOM:{custom.decode() if isinstance(custom, bytes) else custom}"
    return name


def constant_data(model, tensor):
    """A tensor's constant data (a buffer's bytes, ``uint8``), or `None` for a tensor computed at run
    time (buffer 0 and empty buffers hold none)."""
    buffer = model.buffers[tensor.buffer] if tensor.buffer else None
    if buffer is None or buffer.data is None or len(buffer.data) == 0:
        return None
    return buffer.data


def type_name(tensor) -> str:
    """A tensor's TFLite type name (``INT8``)."""
    return _enum_names("TensorType")[tensor.type]
