"""`deeprx_tf.fold`: batch normalization folded into convolutions, same function, fewer layers."""

import dataclasses

import numpy as np
import pytest
import tf_keras as keras

from deeprx_tf.config import DeepRxConfig
from deeprx_tf.fold import batch_norm_affine, fold_batch_norms, set_folded_weights
from deeprx_tf.model import build_deeprx


def randomize_batch_norms(model, seed: int = 0):
    """Give every BN non-trivial statistics and parameters (fresh ones are the identity)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.2, 3.0, gamma.shape), rng.normal(0, 0.5, beta.shape),
                               rng.normal(0, 0.5, mean.shape), rng.uniform(0.05, 4.0, var.shape)])
    return model


def features(shape, seed: int = 0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_batch_norm_affine_is_the_inference_map():
    layer = keras.layers.BatchNormalization(epsilon=1e-3)
    layer.build((None, 4))
    randomize_batch_norms(keras.Sequential([keras.Input((4,)), layer]))
    scale, shift = batch_norm_affine(layer)
    x = features((5, 4))
    np.testing.assert_allclose(x * scale + shift, layer(x, training=False).numpy(), rtol=1e-5, atol=1e-5)


def test_folded_deeprx_computes_the_same_logits():
    keras.utils.set_random_seed(1)
    config = DeepRxConfig().scaled(0.0625)
    model = randomize_batch_norms(build_deeprx(config))
    num_layers = len(model.layers)
    folded = fold_batch_norms(model)
    kinds = {type(layer).__name__ for layer in folded.layers}
    assert "BatchNormalization" not in kinds and "ReLU" not in kinds
    # bn_2 (after pointwise_1) and relu_2 went into pointwise_1; bn_1 reads the residual stream,
    # which the shortcut reads too, so it and relu_1 became a 1x1 depthwise convolution
    pointwise = folded.get_layer("block_3/pointwise_1")
    assert pointwise.use_bias and pointwise.activation is keras.activations.relu
    for name in ("block_3/bn_1", "head/bn"):
        layer = folded.get_layer(name)
        assert isinstance(layer, keras.layers.DepthwiseConv2D) and layer.kernel_size == (1, 1)
        assert layer.activation is keras.activations.relu
    # per block: two BNs and two ReLUs gone, one BN kept as a depthwise; the head: its ReLU
    assert len(folded.layers) == num_layers - 3 * len(config.block_filters) - 1
    assert len(model.layers) == num_layers  # the original is untouched
    x = features((3, 14, 24, config.num_input_channels))
    reference = model(x).numpy()
    np.testing.assert_allclose(folded(x).numpy(), reference, rtol=1e-5, atol=1e-5 * np.abs(reference).max())


def test_folded_weights_write_back_into_the_unfolded_model():
    keras.utils.set_random_seed(2)
    config = DeepRxConfig().scaled(0.0625)
    model = randomize_batch_norms(build_deeprx(config))
    folded = fold_batch_norms(model)
    # weights trained in the folded graph: anything, not a fold of model's
    rng = np.random.default_rng(3)
    folded.set_weights([w + rng.normal(0, 0.1, w.shape).astype(np.float32) for w in folded.get_weights()])
    target = build_deeprx(config)
    set_folded_weights(target, folded)
    x = features((3, 14, 24, config.num_input_channels))
    reference = folded(x).numpy()
    np.testing.assert_allclose(target(x).numpy(), reference, rtol=1e-5, atol=1e-5 * np.abs(reference).max())
    # and folding it again gives the folded weights back
    for layer in fold_batch_norms(target).layers:
        for mine, theirs in zip(layer.get_weights(), folded.get_layer(layer.name).get_weights()):
            np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
    deeper = build_deeprx(dataclasses.replace(config, block_filters=(*config.block_filters, 8),
                                              block_dilations=(*config.block_dilations, (1, 1))))
    with pytest.raises(ValueError, match="no layer"):
        set_folded_weights(deeper, folded)


def test_fold_keeps_what_it_cannot_fold_exactly():
    inputs = keras.Input((6, 8, 3))
    shared = keras.layers.Conv2D(4, 3, padding="same", name="shared")(inputs)   # read twice
    bn_shared = keras.layers.BatchNormalization(name="bn_shared")(shared)
    relu6 = keras.layers.ReLU(max_value=6.0, name="relu6")(bn_shared)          # not a plain ReLU
    activated = keras.layers.Conv2D(4, 1, activation="tanh", name="activated")(relu6)
    bn_after_tanh = keras.layers.BatchNormalization(name="bn_after_tanh")(activated)
    depthwise = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, use_bias=False,
                                             name="depthwise")(keras.layers.Add()([bn_after_tanh, shared]))
    bn_out = keras.layers.BatchNormalization(name="bn_out")(depthwise)         # folded, is the output
    model = randomize_batch_norms(keras.Model(inputs, bn_out), seed=2)
    folded = fold_batch_norms(model)
    names = {layer.name: layer for layer in folded.layers}
    assert isinstance(names["bn_shared"], keras.layers.DepthwiseConv2D) and "relu6" in names
    assert isinstance(names["bn_after_tanh"], keras.layers.DepthwiseConv2D)
    assert "bn_out" not in names and names["depthwise"].use_bias  # depth multiplier 2 folded
    assert folded.output_names == ["depthwise"]
    x = features((2, 6, 8, 3), seed=1)
    np.testing.assert_allclose(folded(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_fold_refuses_shared_layers_and_other_axes():
    inputs = keras.Input((5, 5, 2))
    conv = keras.layers.Conv2D(2, 1)
    with pytest.raises(ValueError, match="more than once"):
        fold_batch_norms(keras.Model(inputs, conv(conv(inputs))))
    bn = keras.layers.BatchNormalization(axis=1, name="bn_axis1")
    with pytest.raises(ValueError, match="channels-last"):
        fold_batch_norms(keras.Model(inputs, bn(keras.layers.Conv2D(2, 1)(inputs))))
