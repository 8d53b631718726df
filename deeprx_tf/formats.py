"""The TFLite export formats and int8 calibration methods of `deeprx_tf.export`.

This module imports neither TensorFlow nor Sionna, so the command line
offers the choices without loading them.
"""

from pathlib import Path

#: ``float``: float32 weights and activations; ``int8``: full-integer int8
#: (weights, activations, input and output); ``int16x8``: int8 weights with
#: int16 activations, input and output (more precise, CPU only, LiteRT runs
#: it with reference kernels); ``edgetpu``: ``int8`` after rewriting dilated
#: convolutions into undilated ones (`edgetpu.undilate`).
EXPORT_FORMATS = ("float", "int8", "int16x8", "edgetpu")

#: How int8 export sets activation ranges (`deeprx_tf.export.export_deeprx`): ``batch-mean``,
#: each tensor's min and max averaged over pairs of slots; ``minmax``, the TFLite converter's
#: over all slots; ``learned``, those a quantization-aware-trained checkpoint learned.
CALIBRATION_METHODS = ("batch-mean", "minmax", "learned")
#: Slots from the link that calibrate int8 activation ranges.
DEFAULT_CALIBRATION_SLOTS = 128


def sidecar_path(tflite_path: str | Path) -> Path:
    """``FILE.json`` beside ``FILE.tflite``: what an export records about the file (shapes,
    scales, scenario, inputs), which `deeprx_tf.TFLiteModel` reads back."""
    return Path(tflite_path).with_suffix(".json")
