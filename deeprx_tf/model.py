"""`build_deeprx`: the DeepRx fully convolutional ResNet as a tf_keras model."""

from __future__ import annotations

import tf_keras as keras

from deeprx_tf.config import DeepRxConfig
from deeprx_tf.layers import GroupedDepthwiseConv2D

#: The attribute through which a model built by `build_deeprx` carries its `DeepRxConfig`.
CONFIG_ATTRIBUTE = "deeprx_config"


def _dilation(config: DeepRxConfig, pair: tuple[int, int]) -> tuple[int, int]:
    """A (time, frequency) or (frequency, time) dilation as Keras' (rows=time, cols=frequency)."""
    return pair if config.dilation_order == "time_frequency" else (pair[1], pair[0])


def _residual_block(x, index: int, filters: int, dilation: tuple[int, int], depth_multiplier: int):
    """Full pre-activation residual block with depthwise-separable dilated convolutions.

    BN, ReLU, depthwise 3x3 (dilated), pointwise 1x1, BN, ReLU, depthwise,
    pointwise; added to the input, through a 1x1 projection when the width
    changes. Layers are named ``block_<index>/<layer>``.
    """
    name = f"block_{index}"
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, name=f"{name}/projection")(x)
    for part in (1, 2):
        x = keras.layers.BatchNormalization(name=f"{name}/bn_{part}")(x)
        x = keras.layers.ReLU(name=f"{name}/relu_{part}")(x)
        # Keras' DepthwiseConv2D, dilated ones computed without SpaceToBatchND (deeprx_tf.layers)
        x = GroupedDepthwiseConv2D(3, padding="same", depth_multiplier=depth_multiplier,
                                   dilation_rate=dilation, name=f"{name}/depthwise_{part}")(x)
        x = keras.layers.Conv2D(filters, 1, name=f"{name}/pointwise_{part}")(x)
    return keras.layers.Add(name=f"{name}/add")([shortcut, x])


def build_deeprx(config: DeepRxConfig, num_ofdm_symbols: int | None = None,
                 num_subcarriers: int | None = None, name: str = "deeprx") -> keras.Model:
    """Build a DeepRx model.

    Parameters
    ----------
    config : DeepRxConfig
        The architecture.
    num_ofdm_symbols, num_subcarriers : int or None
        Static grid size; `None` (default) leaves the model fully
        convolutional, so one set of weights serves any number of PRBs.
        Exporters fix them.
    name : str
        Model name.

    Returns
    -------
    tf_keras.Model
        ``features -> logits``; it carries ``config`` (`config_of`), so
        `DeepRxReceiver`, the exporter and the profiler need nothing else.

        features : [batch, num_ofdm_symbols, num_subcarriers, num_input_channels], tf.float32
            `DeepRxConfig.num_input_channels` (``4 * num_rx_ant + 2`` for
            the published inputs and one layer).
        logits : [batch, num_ofdm_symbols, num_subcarriers, num_layers * num_bits_per_symbol], tf.float32
            One logit per bit, layer and resource element (layer-major);
            positive means bit 1 (Sionna's LLR sign).

    Example
    -------
    >>> import tensorflow as tf
    >>> model = build_deeprx(DeepRxConfig().scaled(0.25))  # x0.25 of the paper's widths
    >>> model(tf.zeros([2, 14, 48, model.input_shape[-1]])).shape  # 4 PRB, 1x2 SIMO, 256-QAM
    TensorShape([2, 14, 48, 8])
    """
    inputs = keras.Input((num_ofdm_symbols, num_subcarriers, config.num_input_channels),
                         name="features")
    x = keras.layers.Conv2D(config.conv_in_filters, 3, padding="same", name="conv_in")(inputs)
    for index, (filters, dilation) in enumerate(zip(config.block_filters, config.block_dilations), 1):
        x = _residual_block(x, index, filters, _dilation(config, dilation), config.depth_multiplier)
    x = keras.layers.BatchNormalization(name="head/bn")(x)
    x = keras.layers.ReLU(name="head/relu")(x)
    logits = keras.layers.Conv2D(config.num_outputs, 1, name="head/logits")(x)
    model = keras.Model(inputs, logits, name=name)
    setattr(model, CONFIG_ATTRIBUTE, config)
    return model


def config_of(model) -> DeepRxConfig | None:
    """The `DeepRxConfig` a model was built with (`build_deeprx`, `deeprx_tf.load_checkpoint`),
    `None` for a model built otherwise.

    Example
    -------
    >>> config_of(build_deeprx(DeepRxConfig().scaled(0.125))).conv_in_filters
    8
    """
    config = getattr(model, CONFIG_ATTRIBUTE, None)
    return config if isinstance(config, DeepRxConfig) else None
