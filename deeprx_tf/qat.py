"""Quantization-aware training (QAT) of DeepRx with tensorflow-model-optimization.

`quantize_for_training` returns tfmot's QAT model of a DeepRx: every layer
wrapped with fake int8 quantization, so training learns weights (and
activation ranges) that survive full-integer int8 export. tfmot's default
8-bit scheme has no configuration for a BatchNormalization that does not
follow a convolution, and DeepRx's blocks are pre-activation (BN -> ReLU
-> conv): `BatchNormOutputQuantizeConfig` quantizes such a BN's output and
leaves its parameters float (the converter folds them into MUL/ADD ops).

The QAT model holds copies of the layers (named ``quant_<name>``); a
checkpoint keeps its float weights in ``weights.h5`` (`copy_float_weights`)
and the whole QAT state, with the learned ranges, in ``qat_weights.h5``.
"""

from __future__ import annotations

import link_sim.tfenv  # noqa: F401  (before TensorFlow)

import tensorflow_model_optimization as tfmot
import tf_keras as keras

_quant = tfmot.quantization.keras


@keras.utils.register_keras_serializable("deeprx")
class BatchNormOutputQuantizeConfig(_quant.QuantizeConfig):
    """Fake-quantize a standalone BatchNormalization's output to 8 bits (asymmetric, per tensor)."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [_quant.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                          narrow_range=False)]

    def get_config(self):
        return {}


def quantize_for_training(model: keras.Model) -> keras.Model:
    """tfmot's QAT model of a DeepRx (new layers; ``model`` is not changed).

    Parameters
    ----------
    model : tf_keras.Model
        A functional DeepRx (`build_deeprx`), its weights the starting point.

    Returns
    -------
    tf_keras.Model
        Same input and output shapes; train it like the float model.
    """

    def annotate(layer):
        if isinstance(layer, keras.layers.BatchNormalization):
            return _quant.quantize_annotate_layer(layer, BatchNormOutputQuantizeConfig())
        return _quant.quantize_annotate_layer(layer)

    annotated = keras.models.clone_model(model, clone_function=annotate)
    annotated.set_weights(model.get_weights())
    with _quant.quantize_scope({"BatchNormOutputQuantizeConfig": BatchNormOutputQuantizeConfig}):
        return _quant.quantize_apply(annotated)


def copy_float_weights(qat_model: keras.Model, model: keras.Model) -> keras.Model:
    """Copy the float weights of a `quantize_for_training` model into the plain ``model``.

    The QAT wrappers keep the wrapped layers' variables under their
    original names (``conv_in/kernel:0``; a wrapper moves the kernel out of
    its inner layer), so weights are matched by variable name.

    Returns
    -------
    tf_keras.Model
        ``model``, every weight equal to the QAT model's of the same name.
    """
    qat_weights = {w.name: w for w in qat_model.weights}
    missing = [w.name for w in model.weights if w.name not in qat_weights]
    if missing:
        raise ValueError(f"the QAT model has no weights named {', '.join(missing[:3])}: "
                         "it was not made from this model's architecture")
    for weight in model.weights:
        weight.assign(qat_weights[weight.name])
    return model
