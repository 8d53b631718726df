"""Quantization-aware training (QAT) of DeepRx with tensorflow-model-optimization.

`quantize_for_training` returns tfmot's QAT model of a DeepRx with its batch
normalizations folded away (`deeprx_tf.fold.fold_batch_norms`): the graph
every int8 export runs, each layer wrapped with fake int8 quantization, so
training learns weights that survive the roundings of that graph. (DeepRx's
blocks are pre-activation, BN -> ReLU -> conv, a BN tfmot's default scheme
has no configuration for; folded, it is a convolution like the others.)

tfmot starts every activation range at [-6, 6] and moves it towards each
batch's range by an exponential moving average of decay 0.999, i.e. over
thousands of steps: until then, wide tensors are clipped at +-6 and ReLU
outputs waste levels on negatives, and fine-tuning first spends its steps
repairing the damage. `calibrate_activation_ranges` sets every range to
the moving average's fixed point, measured on the float model, before
training starts (``deeprx train --qat`` does so).

The QAT model holds copies of the folded layers (named ``quant_<name>``); a
checkpoint keeps its float weights in ``weights.h5``, written back into the
unfolded architecture (`copy_float_weights`, `deeprx_tf.fold.set_folded_weights`),
and the whole QAT state, with the learned ranges, in ``qat_weights.h5``.
By default an int8 export of a QAT checkpoint sets its ranges anew from the
float weights (`calibrated_for_int8`, narrower than tfmot's moving averages
over training batches); ``--calibration learned`` converts the QAT model
itself. `quantize_rewritten` carries the QAT state over the Edge TPU's
dilation rewrite.
"""

from __future__ import annotations

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from deeprx_tf.fold import fold_batch_norms, set_folded_weights

_quant = tfmot.quantization.keras


def quantize_for_training(model: keras.Model) -> keras.Model:
    """tfmot's QAT model of a DeepRx with its batch normalizations folded (new layers;
    ``model`` is not changed).

    Parameters
    ----------
    model : tf_keras.Model
        A functional DeepRx (`build_deeprx`, or one already folded), its
        weights the starting point.

    Returns
    -------
    tf_keras.Model
        The QAT model of `deeprx_tf.fold.fold_batch_norms` (``model``): same
        input and output shapes, no BatchNormalization; train it like the
        float model.
    """
    return _quant.quantize_model(fold_batch_norms(model))


# the range variables of a wrapper's activation (not weight) quantizers: name -> end
_ACTIVATION_RANGE_NAMES = {f"{quantizer}_{end}": end for quantizer in ("post_activation", "output")
                           for end in ("min", "max")}


def _activation_ranges(qat_model: keras.Model, input_name: str) -> dict[str, tuple]:
    """``{float layer name: (min variable, max variable)}`` of the QAT model's activation
    quantizers; the input quantizer (tfmot's ``QuantizeLayer``) under ``input_name``."""
    ranges = {}
    for layer in qat_model.layers:
        if type(layer).__name__ == "QuantizeLayer":
            ranges[input_name] = (layer.quantizer_vars["min_var"], layer.quantizer_vars["max_var"])
        elif isinstance(layer, _quant.QuantizeWrapperV2):
            variables = {}
            for weight in layer.non_trainable_weights:
                stem = weight.name.split("/")[-1].split(":")[0]  # e.g. post_activation_min
                if stem in _ACTIVATION_RANGE_NAMES:
                    variables[_ACTIVATION_RANGE_NAMES[stem]] = weight
            if variables:
                ranges[layer.layer.name] = (variables["min"], variables["max"])
    return ranges


def calibrate_activation_ranges(qat_model: keras.Model, model: keras.Model, batches) -> dict:
    """Set the QAT model's activation ranges from the float ``model`` on ``batches``.

    Each range becomes the mean over batches of the batch minimum and
    maximum (0 included) of the float tensor it quantizes: the fixed point of
    tfmot's moving average, so training starts from post-training
    quantization's ranges instead of [-6, 6]. The input's range is the
    minimum and maximum over all batches (tfmot's all-values quantizer).

    Parameters
    ----------
    qat_model : tf_keras.Model
        `quantize_for_training` (``model``); its range variables are assigned.
    model : tf_keras.Model
        The float DeepRx it was made from (folded or not).
    batches : iterable
        Feature batches ``[batch, S, F, 4 Nr + 2]`` (or ``(features, target)``
        pairs, as a training dataset gives).

    Returns
    -------
    dict
        ``{layer name: (min, max)}`` as assigned.
    """
    model = fold_batch_norms(model)  # the graph the QAT model quantizes
    input_name = model.input_names[0]
    ranges = _activation_ranges(qat_model, input_name)
    names = [name for name in ranges if name != input_name]
    taps = keras.Model(model.inputs, [model.get_layer(name).output for name in names])
    lows, highs, count = np.zeros(len(names)), np.zeros(len(names)), 0
    in_low, in_high = np.inf, -np.inf
    for batch in batches:
        features = batch[0] if isinstance(batch, (tuple, list)) else batch
        outputs = taps(features, training=False)
        lows += [min(float(np.min(out)), 0.0) for out in outputs]
        highs += [max(float(np.max(out)), 0.0) for out in outputs]
        in_low, in_high = min(in_low, float(np.min(features))), max(in_high, float(np.max(features)))
        count += 1
    if not count:
        raise ValueError("calibrate_activation_ranges needs at least one batch")
    assigned = {name: (low / count, high / count) for name, low, high in zip(names, lows, highs)}
    if input_name in ranges:
        assigned[input_name] = (min(in_low, 0.0), max(in_high, 0.0))
    # the weight quantizers take their ranges from the weights in a training call only;
    # make one, and undo what else it changes (step counters, activation ranges)
    weight_ranges = {w.ref() for w in _weight_ranges(qat_model, ranges)}
    kept = [(w, w.numpy()) for w in qat_model.non_trainable_weights if w.ref() not in weight_ranges]
    qat_model(features, training=True)
    for weight, value in kept:
        weight.assign(value)
    for name, (low, high) in assigned.items():
        min_var, max_var = ranges[name]
        min_var.assign(np.full(min_var.shape, low, np.float32))
        max_var.assign(np.full(max_var.shape, high, np.float32))
    return assigned


def _weight_ranges(qat_model: keras.Model, activation_ranges: dict) -> list:
    """The range variables of the QAT model's weight quantizers (``kernel_min``, ...)."""
    activation = {v.ref() for pair in activation_ranges.values() for v in pair}
    return [w for layer in qat_model.layers if isinstance(layer, _quant.QuantizeWrapperV2)
            for w in layer.non_trainable_weights
            if w.ref() not in activation and w.name.split(":")[0].endswith(("_min", "_max"))]


#: Slots per batch of `calibrated_for_int8`'s range measurement: each activation's range is
#: its min and max averaged over such batches, so smaller batches give narrower ranges
#: (docs/export.md has the measurements that chose 2).
CALIBRATION_BATCH_SLOTS = 2


def calibrated_for_int8(model: keras.Model, features,
                        batch_size: int = CALIBRATION_BATCH_SLOTS) -> keras.Model:
    """Post-training quantization through tfmot: a `quantize_for_training` model of ``model``,
    its ranges set by `calibrate_activation_ranges` on ``features``, not trained.

    The TFLite converter's own calibration takes each tensor's minimum and
    maximum over all its calibration slots; this takes their mean over
    batches of ``batch_size`` slots, a narrower range with finer steps that
    clips a rare extreme. Converting the result to int8 is post-training
    quantization with those ranges.

    Parameters
    ----------
    model : tf_keras.Model
        A float DeepRx.
    features : [num_slots, S, F, 4 Nr + 2], float32
        Calibration inputs.
    batch_size : int
        Slots per batch of the range measurement (`CALIBRATION_BATCH_SLOTS`).

    Returns
    -------
    tf_keras.Model
        The fake-quantized model, ready for `deeprx_tf.export.convert_to_tflite`.
    """
    qat_model = quantize_for_training(model)
    batches = [features[start:start + batch_size] for start in range(0, len(features), batch_size)]
    calibrate_activation_ranges(qat_model, model, batches)
    return qat_model


def quantize_rewritten(qat_model: keras.Model, rewritten: keras.Model) -> keras.Model:
    """The QAT model of a rewritten copy of ``qat_model``'s float model, in ``qat_model``'s state.

    For the Edge TPU graph: ``rewritten`` is `deeprx_tf.edgetpu.undilate`
    of the float model holding ``qat_model``'s float weights; the result
    wraps it like `quantize_for_training` and takes every variable of
    ``qat_model`` (learned ranges, weights) layer by
    layer, except the kernels whose shape the rewrite changed (the
    zero-stuffed ones, kept from ``rewritten``; their ranges are the
    originals', zeros changing no maximum).

    Raises
    ------
    ValueError
        If the two models do not have the same layers.
    """
    target = quantize_for_training(rewritten)

    def original_name(layer):
        return layer.layer.name if isinstance(layer, _quant.QuantizeWrapperV2) else type(layer).__name__

    if [original_name(layer) for layer in qat_model.layers] != [original_name(layer) for layer in target.layers]:
        raise ValueError("the rewritten model does not have the QAT model's layers")
    for source, layer in zip(qat_model.layers, target.layers):
        values, own = source.get_weights(), layer.get_weights()
        if len(values) != len(own):
            raise ValueError(f"layer {original_name(layer)} has other variables after the rewrite")
        layer.set_weights([value if value.shape == mine.shape else mine for value, mine in zip(values, own)])
    return target


def copy_float_weights(qat_model: keras.Model, model: keras.Model) -> keras.Model:
    """Write the float weights of a `quantize_for_training` model into the unfolded ``model``.

    The QAT wrappers keep the wrapped layers' variables under their
    original names (``conv_in/kernel:0``; a wrapper moves the kernel out of
    its inner layer), so they are matched by variable name into
    ``fold_batch_norms(model)``, which `deeprx_tf.fold.set_folded_weights`
    unfolds: each BN of ``model`` then holds its folded scale and shift
    (mean 0, variance 1 - epsilon) or is the identity.

    In inference ``model`` then computes what the QAT model's float weights
    compute; trained again in float (without QAT), its BNs would normalize
    by batch statistics from the first step, as any BN does.

    Returns
    -------
    tf_keras.Model
        ``model``, its weights set.

    Raises
    ------
    ValueError
        If the QAT model was not made from ``model``'s architecture.
    """
    folded = fold_batch_norms(model)
    qat_weights = {w.name: w for w in qat_model.weights}
    missing = [w.name for w in folded.weights if w.name not in qat_weights]
    if missing:
        raise ValueError(f"the QAT model has no weights named {', '.join(missing[:3])}: "
                         "it was not made from this model's architecture")
    for weight in folded.weights:
        weight.assign(qat_weights[weight.name])
    return set_folded_weights(model, folded)
