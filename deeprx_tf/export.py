"""Export DeepRx to TFLite: float, full-integer int8, and an all-Edge-TPU int8 graph.

A ``.tflite`` file has static shapes: one grid (OFDM symbols x subcarriers),
batch 1. Beside ``FILE.tflite`` goes ``FILE.json`` with what a deployment
needs to feed it and read it (input/output shapes, types and quantization
parameters), where it came from (checkpoint, scenario, calibration data),
the graph rewrites it went through and its Edge TPU op report.

``float``, ``int8`` and ``edgetpu`` files run the model with its batch
normalizations folded away (`deeprx_tf.fold`), checked against the
original before conversion: fewer ops, and in int8 fewer roundings; a
quantization-aware-trained model was trained in that same graph
(`deeprx_tf.qat`). Every file's depthwise convolutions then have a depth
multiplier of 1 (`deeprx_tf.depthwise`), checked against the converter's
file: LiteRT's fast kernels run them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras as keras

from deeprx_tf.config import DeepRxConfig
from deeprx_tf.depthwise import unit_depth_multipliers
from deeprx_tf.edgetpu import dilated_layers, op_report, run_edgetpu_compiler, undilate
from deeprx_tf.link_fit import LinkShape, check_model_fits
from deeprx_tf.fold import fold_batch_norms
from deeprx_tf.formats import (CALIBRATION_METHODS, DEFAULT_CALIBRATION_SLOTS, EXPORT_FORMATS, ExportFormat,
                               export_format, sidecar_path)
from deeprx_tf.layers import with_keras_layers
from deeprx_tf.model import config_of
from link_sim import LinkConfig
from link_sim.errors import InputError, MissingInputError, OutputExistsError
from link_sim.results import write_atomic, write_json
from link_sim.tfenv import native_stderr_silenced

#: Progress of an export (INFO) and the TFLite converter's own log (shown at DEBUG only).
log = logging.getLogger(__name__)

SIDECAR_FORMAT = "deeprx-tf-tflite/1"

#: Largest |difference| allowed between a model and its undilated rewrite,
#: relative to the largest |logit| (float32 sums in another order).
REWRITE_TOLERANCE = 1e-5
#: Slots the rewritten models (`fold_for_export`, `rewrite_for_edgetpu`) are checked on.
REWRITE_CHECK_SLOTS = 16
#: Least share of logit signs the undilated fake-quantized (QAT or calibrated) model must
#: share with the original one.
QAT_REWRITE_MIN_SIGN_AGREEMENT = 0.999


def _compare_logits(reference: np.ndarray, outputs: np.ndarray, what: str, tolerance: float) -> dict:
    """``{"max_abs_diff", "max_abs_logit"}`` of a rewrite's logits against the original's;
    `RuntimeError` if they differ by more than ``tolerance`` (relative)."""
    max_diff = float(np.max(np.abs(outputs - reference)))
    scale = max(1.0, float(np.max(np.abs(reference))))
    if max_diff > tolerance * scale:
        raise RuntimeError(f"the {what} model differs from the original by {max_diff:.3g} "
                           f"(logits up to {scale:.3g}); not exporting")
    return {"max_abs_diff": max_diff, "max_abs_logit": scale}


def _check_same_function(model, rewritten, features: np.ndarray, what: str) -> dict:
    """`_compare_logits` of two Keras models at `REWRITE_TOLERANCE`."""
    return _compare_logits(model.predict(features, batch_size=8, verbose=0),
                           rewritten.predict(features, batch_size=8, verbose=0), what, REWRITE_TOLERANCE)


def fold_for_export(model, features: np.ndarray):
    """`fold_batch_norms` and check that the folded model computes the same logits.

    Parameters
    ----------
    model : tf_keras.Model
        ``features -> logits``.
    features : [batch, num_ofdm_symbols, num_subcarriers, channels], float32
        Inputs to compare the two models on.

    Returns
    -------
    (tf_keras.Model, dict)
        The folded model and ``{"into_convolutions": names of the BNs folded
        into the convolution before them, "as_depthwise": names of those that
        became 1x1 depthwise convolutions, "max_abs_diff": ...,
        "max_abs_logit": ...}``.

    Raises
    ------
    RuntimeError
        If the outputs differ by more than `REWRITE_TOLERANCE` (relative).
    """
    folded = fold_batch_norms(model)
    kept = {layer.name for layer in folded.layers}
    norms = [layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    check = {"into_convolutions": [name for name in norms if name not in kept],
             "as_depthwise": [name for name in norms if name in kept]}
    check.update(_check_same_function(model, folded, features, "batch-norm-folded"))
    return folded, check


def rewrite_for_edgetpu(model, features: np.ndarray):
    """`undilate` a model and check that the rewrite computes the same logits.

    Parameters
    ----------
    model : tf_keras.Model
        ``features -> logits``.
    features : [batch, num_ofdm_symbols, num_subcarriers, channels], float32
        Inputs to compare the two models on.

    Returns
    -------
    (tf_keras.Model, dict)
        The rewritten model and ``{"layers": rewritten layer names,
        "max_abs_diff": ..., "max_abs_logit": ...}``.

    Raises
    ------
    RuntimeError
        If the outputs differ by more than `REWRITE_TOLERANCE` (relative).
    """
    rewritten = undilate(model)
    check = {"layers": dilated_layers(model)}
    check.update(_check_same_function(model, rewritten, features, "undilated"))
    return rewritten, check


def rewrite_depth_multipliers(flatbuffer: bytes, features: np.ndarray, quantized: bool):
    """`deeprx_tf.depthwise.unit_depth_multipliers` and check that the rewritten file computes the
    same logits: bit for bit if ``quantized`` (the rewrite only reorders integer sums), else
    within `REWRITE_TOLERANCE`.

    Parameters
    ----------
    flatbuffer : bytes
        A ``.tflite`` file (`convert_to_tflite`).
    features : [batch, num_ofdm_symbols, num_subcarriers, channels], float32
        Inputs to compare the two files on.
    quantized : bool
        Whether the file computes in integers.

    Returns
    -------
    (bytes, dict)
        The rewritten file and ``{"rewritten", "kept", "max_abs_diff", "max_abs_logit"}``.

    Raises
    ------
    RuntimeError
        If the outputs differ more than that.
    """
    from deeprx_tf.litert import TFLiteModel

    rewritten, info = unit_depth_multipliers(flatbuffer)
    if info["rewritten"]:
        info.update(_compare_logits(TFLiteModel(flatbuffer).predict(features),
                                    TFLiteModel(rewritten).predict(features),
                                    "depth-multiplier-rewritten", 0.0 if quantized else REWRITE_TOLERANCE))
    return rewritten, info


def _check_qat_rewrite(quantized, rewritten, features: np.ndarray) -> float:
    """Share of logits whose sign the rewritten fake-quantized model keeps; `RuntimeError`
    below `QAT_REWRITE_MIN_SIGN_AGREEMENT`."""
    reference = quantized.predict(features, batch_size=8, verbose=0)
    outputs = rewritten.predict(features, batch_size=8, verbose=0)
    agreement = float(np.mean(np.sign(outputs) == np.sign(reference)))
    if agreement < QAT_REWRITE_MIN_SIGN_AGREEMENT:
        raise RuntimeError(f"the undilated fake-quantized model keeps only {agreement:.2%} of the logits' signs; "
                           "not exporting")
    return agreement


#: The converter's op set and I/O type of each quantized `ExportFormat.io_type`.
_CONVERTER_TYPES = {
    "int8": (tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.int8),
    "int16": (tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, tf.int16),
}


def convert_to_tflite(model, fmt: str, grid_shape: tuple[int, int],
                      representative_features: np.ndarray | None = None) -> bytes:
    """Convert a features -> logits Keras model to a static-shape ``.tflite`` flatbuffer.

    Parameters
    ----------
    model : tf_keras.Model
        Input ``[batch, S, F, C]``, output ``[batch, S, F, bits]``; for
        ``"edgetpu"`` already rewritten (`rewrite_for_edgetpu`).
    fmt : "float", "int8", "int16x8" or "edgetpu"
        See `EXPORT_FORMATS`.
    grid_shape : (int, int)
        ``(S, F)``: OFDM symbols and subcarriers of the static input.
    representative_features : [num_slots, S, F, C], float32
        Calibration inputs for the int8 formats (ranges of every
        activation); not used for ``"float"``.

    Returns
    -------
    bytes
        The flatbuffer; its input is ``[1, S, F, C]`` and its output
        ``[1, S, F, bits]``, float32 or int8.
    """
    spec = export_format(fmt)
    model = with_keras_layers(model)  # the converter's own kernels, not grouped convolutions
    signature = tf.TensorSpec([1, *grid_shape, model.input_shape[-1]], tf.float32, name="features")
    function = tf.function(lambda features: model(features, training=False), input_signature=[signature])
    # The converter saves its trackable as a SavedModel first; the Keras model itself would
    # have every layer's call traced for that (about 3/4 of a tiny model's conversion time).
    # A plain module that tracks the variables gives the same flatbuffer, byte for byte.
    variables = tf.Module(name="deeprx_variables")
    variables.tracked = list(model.variables)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()],
                                                                variables)
    if spec.quantized:
        if representative_features is None or len(representative_features) == 0:
            raise InputError(f"the {fmt} format needs representative features for calibration")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([slot[None]] for slot in representative_features)
        ops, io_type = _CONVERTER_TYPES[spec.io_type]
        converter.target_spec.supported_ops = [ops]
        converter.inference_input_type = io_type
        converter.inference_output_type = io_type
    # the converter's MLIR passes log through absl straight to the process' stderr
    if log.isEnabledFor(logging.DEBUG):
        return converter.convert()
    with native_stderr_silenced():
        return converter.convert()


def io_details(tflite_model: bytes) -> dict:
    """Input and output of a ``.tflite`` model: name, shape, dtype, scale and zero point."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite_model)

    def describe(detail):
        scale, zero_point = detail["quantization"]
        return {"name": detail["name"], "shape": [int(d) for d in detail["shape"]],
                "dtype": np.dtype(detail["dtype"]).name,
                "scale": float(scale), "zero_point": int(zero_point)}

    return {"input": describe(interpreter.get_input_details()[0]),
            "output": describe(interpreter.get_output_details()[0])}


def calibration_features(link_config: LinkConfig, num_slots: int, seed: int = 0,
                         batch_size: int = 32, model_config: DeepRxConfig | None = None) -> np.ndarray:
    """Features of ``num_slots`` slots of a scenario, SINR uniform in its ``sinr_db`` range.

    ``model_config`` says which inputs the features hold (`None`: the published DeepRx's).

    Returns
    -------
    [num_slots, num_ofdm_symbols, fft_size, num_input_channels], float32
    """
    from sionna.phy import config as sionna_config

    from deeprx_tf.dataset import LinkBatchMaker

    if num_slots < 1:
        raise InputError(f"calibration needs at least one slot, got {num_slots}")
    maker = LinkBatchMaker(link_config, model_config)
    sionna_config.seed = seed
    rng = np.random.default_rng(seed)
    chunks = []
    for start in range(0, num_slots, batch_size):
        size = min(batch_size, num_slots - start)
        sinr = rng.uniform(*link_config.sinr_db, size=size).astype(np.float32)
        chunks.append(maker(size, sinr)[0].numpy())
    return np.concatenate(chunks)


def export_deeprx(model, fmt: str, out: str | Path, link_config: LinkConfig,
                  num_calibration_slots: int = DEFAULT_CALIBRATION_SLOTS, seed: int = 0, overwrite: bool = False,
                  metadata: dict | None = None, qat_model=None,
                  calibration: str = "batch-mean", model_config: DeepRxConfig | None = None,
                  unit_depth_multiplier: bool = True) -> dict:
    """Export a DeepRx model for one scenario's grid to ``out`` (.tflite) and its JSON sidecar.

    Parameters
    ----------
    model : tf_keras.Model
        A DeepRx model (`build_deeprx`, `deeprx_tf.load_checkpoint`).
    fmt : "float", "int8", "int16x8" or "edgetpu"
        See `EXPORT_FORMATS`.
    out : str or Path
        The ``.tflite`` file to write; ``.json`` beside it.
    link_config : LinkConfig
        The scenario: the grid, and the link of the calibration slots.
    num_calibration_slots : int
        Slots in the representative dataset of the int8 formats.
    seed : int
        Seed of the calibration slots.
    overwrite : bool
        Replace existing files; otherwise refuse with `FileExistsError`.
    metadata : dict, optional
        More entries for the sidecar (the source checkpoint, say).
    qat_model : tf_keras.Model, optional
        The quantization-aware-trained model (`deeprx_tf.qat`) whose float
        weights ``model`` holds: what ``calibration="learned"`` converts
        (for ``edgetpu`` rewritten by `deeprx_tf.qat.quantize_rewritten` and
        checked on the logits' signs).
    calibration : "batch-mean", "minmax" or "learned"
        How ``int8`` and ``edgetpu`` set the activation ranges: the mean
        over batches of `deeprx_tf.qat.CALIBRATION_BATCH_SLOTS` calibration
        slots of each tensor's minimum and maximum (default); the TFLite
        converter's minimum and maximum over all slots (``int16x8``
        always); the ranges ``qat_model`` learned.
    model_config : DeepRxConfig, optional
        The architecture, for its optional inputs (recorded in the sidecar
        for `deeprx_tf.TFLiteReceiver`); by default the one ``model``
        carries (`deeprx_tf.model.config_of`), else the published inputs.
    unit_depth_multiplier : bool
        Rewrite the file's depthwise convolutions with a depth multiplier
        (DeepRx's is 2) into a channel repeat and multiplier 1
        (`rewrite_depth_multipliers`): the same logits, run by LiteRT's
        fast kernels. `False` keeps the converter's graph (to compare).

    Returns
    -------
    dict
        The sidecar's content.

    Example
    -------
    >>> import tempfile, pathlib
    >>> from deeprx_tf import load_checkpoint
    >>> ckpt = load_checkpoint("default")
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "deeprx.tflite"
    >>> info = export_deeprx(ckpt.model, "float", out, ckpt.link_config.replace(num_prb=1))
    >>> info["input"]["shape"], info["inputs"]["equalized_input"]
    ([1, 14, 12, 13], True)
    """
    spec = export_format(fmt)
    if calibration not in CALIBRATION_METHODS:
        raise InputError(f"unknown calibration {calibration!r}: use {', '.join(CALIBRATION_METHODS)}")
    if calibration == "learned" and qat_model is None and spec.own_calibration:
        raise InputError("--calibration learned needs a quantization-aware-trained checkpoint "
                         "(deeprx train --qat); this one has no qat_weights.h5")
    model_config = model_config or config_of(model)
    inputs = (model_config or DeepRxConfig()).feature_options()
    check_model_fits("the model", LinkShape.of_link_config(link_config),
                     num_outputs=int(model.output_shape[-1]), inputs=inputs,
                     num_input_channels=int(model.input_shape[-1]))
    out = _check_output(Path(out), overwrite)

    grid_shape = (link_config.num_ofdm_symbols, link_config.num_subcarriers)
    info = {"format": SIDECAR_FORMAT, "export_format": fmt, "tflite": out.name,
            "grid": {"num_ofdm_symbols": grid_shape[0], "num_subcarriers": grid_shape[1]},
            "link": link_config.to_dict(), "inputs": inputs, **(metadata or {})}
    # slots to check the rewrites on; for a quantized format, also the calibration slots
    num_slots = num_calibration_slots if spec.quantized else REWRITE_CHECK_SLOTS
    log.info("simulating %d slots of the link (%s)", num_slots,
             "calibration and checks" if spec.quantized else "checks of the rewrites")
    features = calibration_features(link_config, num_slots, seed, model_config=model_config)
    info.update(_quantization_info(spec, calibration, qat_model is not None, num_calibration_slots, seed,
                                   link_config))
    model = _model_to_convert(model, spec, calibration, qat_model, features, info)
    log.info("converting to TFLite (%s)", fmt)
    flatbuffer = convert_to_tflite(model, fmt, grid_shape, features)
    if unit_depth_multiplier:
        log.info("rewriting the depthwise convolutions' depth multipliers")
        flatbuffer, info["depth_multiplier_rewrite"] = rewrite_depth_multipliers(
            flatbuffer, features[:REWRITE_CHECK_SLOTS], spec.quantized)
    info.update(io_details(flatbuffer), bytes=len(flatbuffer))
    info["edgetpu_op_report"] = op_report(flatbuffer)
    write_atomic(out, lambda tmp: Path(tmp).write_bytes(flatbuffer))
    if spec.edgetpu_compiler:
        log.info("running edgetpu_compiler")
        info["edgetpu_compiler"] = run_edgetpu_compiler(out, out.parent)
    write_json(sidecar_path(out), info)
    return info


def _quantization_info(spec: ExportFormat, calibration: str, qat: bool, num_slots: int, seed: int,
                       link_config: LinkConfig) -> dict:
    """The sidecar's ``quantization`` (and ``calibration``) entries."""
    if not spec.quantized:
        return {"quantization": "none"}
    ranges = calibration if spec.own_calibration else "minmax"
    return {
        # a QAT model's weights, whatever sets the ranges
        "quantization": "quantization-aware training" if qat and spec.own_calibration else "post-training",
        "calibration": {"num_slots": num_slots, "seed": seed, "sinr_db": list(link_config.sinr_db),
                        "channel_model": link_config.channel_model,
                        "num_dmrs_symbols": link_config.num_dmrs_symbols,
                        "ranges": "learned (QAT)" if ranges == "learned" else ranges},
    }


def _check_output(out: Path, overwrite: bool) -> Path:
    """Refuse, before any conversion, an ``out`` that is not a writable ``.tflite`` path or that
    would replace a file (or its sidecar) without ``overwrite``."""
    if out.suffix != ".tflite":
        raise InputError(f"--out must name a .tflite file, got {out}")
    if not overwrite:
        for path in (out, sidecar_path(out)):
            if path.exists():
                raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise MissingInputError(f"output folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):  # before minutes of conversion, not after
        raise InputError(f"cannot write into the output folder {out.parent}")
    return out


def _model_to_convert(model, spec: ExportFormat, calibration: str, qat_model, features: np.ndarray,
                      info: dict):
    """The Keras model the converter gets, as ``spec`` asks: batch norms folded, the
    fake-quantized model whose ranges the int8 file takes (`deeprx_tf.qat`), dilations rewritten;
    each rewrite checked on ``features`` and recorded in ``info``."""
    if spec.fold_batch_norms:
        log.info("folding the batch normalizations")
        model, info["batch_norm_fold"] = fold_for_export(model, features[:REWRITE_CHECK_SLOTS])
    # the fake-quantized Keras model whose ranges the int8 file takes, if not the converter's own
    quantized = None
    if spec.own_calibration and calibration == "learned":
        quantized = qat_model
    elif spec.own_calibration and calibration == "batch-mean":
        from deeprx_tf.qat import CALIBRATION_BATCH_SLOTS, calibrated_for_int8  # tfmot

        log.info("calibrating the int8 ranges on %d slots", len(features))
        quantized = calibrated_for_int8(model, features, CALIBRATION_BATCH_SLOTS)
        info["calibration"]["batch_slots"] = CALIBRATION_BATCH_SLOTS
    if spec.undilate:
        log.info("rewriting the dilated convolutions for the Edge TPU")
        model, info["dilation_rewrite"] = rewrite_for_edgetpu(model, features[:REWRITE_CHECK_SLOTS])
        if quantized is not None:
            from deeprx_tf.qat import quantize_rewritten  # tfmot

            model = quantize_rewritten(quantized, model)
            info["dilation_rewrite"]["fake_quant_sign_agreement"] = _check_qat_rewrite(
                quantized, model, features[:REWRITE_CHECK_SLOTS])
        return model
    return quantized if quantized is not None else model
