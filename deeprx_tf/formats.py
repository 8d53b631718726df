"""The TFLite export formats and int8 calibration methods of `deeprx_tf.export`: one table.

This module imports neither TensorFlow nor Sionna, so the command line
offers the choices without loading them. The exporter reads each
format's row (`export_format`); adding a format is a row here, the
exporter's branch for what is really new about it, a test and the docs
(``docs/export.md``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from link_sim.errors import InputError


@dataclasses.dataclass(frozen=True)
class ExportFormat:
    """How one export format is made.

    Attributes
    ----------
    name : str
        The name ``deeprx export --format`` and `export_deeprx` take.
    description : str
        One line for the command's help.
    io_type : "float32", "int8" or "int16"
        The file's input, output and activation type; anything but float32
        has int8 weights and needs calibration slots.
    fold_batch_norms : bool
        Fold the batch normalizations into the convolutions before
        conversion (`deeprx_tf.fold`); otherwise the converter folds them.
    own_calibration : bool
        Activation ranges from `CALIBRATION_METHODS` (batch-mean, a QAT
        checkpoint's learned ranges, or the converter's minmax); otherwise
        always the converter's minmax.
    undilate : bool
        Rewrite the anisotropic dilated convolutions as undilated ones
        (`deeprx_tf.edgetpu.undilate`), for the Edge TPU.
    edgetpu_compiler : bool
        Run ``edgetpu_compiler`` on the file where it is installed.
    """

    name: str
    description: str
    io_type: str
    fold_batch_norms: bool = True
    own_calibration: bool = False
    undilate: bool = False
    edgetpu_compiler: bool = False

    @property
    def quantized(self) -> bool:
        """int8 weights, calibrated activations."""
        return self.io_type != "float32"


#: Every export format, in the order the command line lists them.
FORMATS = (
    ExportFormat("float", "float32 weights and activations", "float32"),
    ExportFormat("int8", "full-integer int8 (weights, activations, input and output)", "int8",
                 own_calibration=True),
    # int16x8 keeps the converter's own folding: in the folded graph its experimental int16 mode
    # stores the bias of the convolutions with a BN folded in on another scale than the kernel
    # applies (a tiny model's pointwise_1 got about a third of its bias).
    ExportFormat("int16x8", "int16 activations, input and output, int8 weights (CPU only; LiteRT runs "
                 "it with reference kernels)", "int16", fold_batch_norms=False),
    ExportFormat("edgetpu", "int8 with the dilated convolutions rewritten as undilated ones (all Edge "
                 "TPU ops)", "int8", own_calibration=True, undilate=True, edgetpu_compiler=True),
)
#: The formats' names.
EXPORT_FORMATS = tuple(f.name for f in FORMATS)
#: What ``deeprx export`` writes unless told otherwise.
DEFAULT_EXPORT_FORMAT = "int8"

#: How int8 export sets activation ranges (`deeprx_tf.export.export_deeprx`): ``batch-mean``,
#: each tensor's min and max averaged over pairs of slots; ``minmax``, the TFLite converter's
#: over all slots; ``learned``, those a quantization-aware-trained checkpoint learned.
CALIBRATION_METHODS = ("batch-mean", "minmax", "learned")
#: Slots from the link that calibrate int8 activation ranges.
DEFAULT_CALIBRATION_SLOTS = 128


def export_format(name: str) -> ExportFormat:
    """The `ExportFormat` of that name; `InputError` naming the choices otherwise."""
    for spec in FORMATS:
        if spec.name == name:
            return spec
    raise InputError(f"unknown export format {name!r}; choose from {', '.join(EXPORT_FORMATS)}")


def sidecar_path(tflite_path: str | Path) -> Path:
    """``FILE.json`` beside ``FILE.tflite``: what an export records about the file (shapes,
    scales, scenario, inputs), which `deeprx_tf.TFLiteModel` reads back."""
    return Path(tflite_path).with_suffix(".json")
