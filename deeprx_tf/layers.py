"""`GroupedDepthwiseConv2D`: Keras' depthwise convolution, dilated ones computed as a grouped convolution.

TensorFlow computes a dilated ``tf.nn.depthwise_conv2d`` as SpaceToBatchND,
an undilated depthwise convolution and BatchToSpaceND, forward and
backward; on a CPU the two reshuffles cost more than the convolution.
A depthwise convolution with depth multiplier ``m`` is also a grouped
convolution with one group per input channel and ``m`` outputs per group,
and ``tf.nn.conv2d`` runs grouped convolutions with native dilations.
Same kernel variable, same output channel order (``c * m + j``), same
function; only the kernels that compute it differ.

The TFLite converter and tensorflow-model-optimization know Keras' own
layers only: `with_keras_layers` gives them the same model built from those.
"""

from __future__ import annotations

import link_sim.tfenv  # noqa: F401  (before TensorFlow)

import tensorflow as tf
import tf_keras as keras


@keras.utils.register_keras_serializable("deeprx")
class GroupedDepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """`tf_keras.layers.DepthwiseConv2D` whose dilated form runs as a grouped convolution.

    Takes the same arguments and holds the same weights as
    `tf_keras.layers.DepthwiseConv2D`: kernel ``[kh, kw, in_channels,
    depth_multiplier]`` (and bias). Undilated, or with strides or
    channels-first data, it is that layer.

    Input
    -----
    inputs : [batch, rows, cols, in_channels], tf.float32

    Output
    ------
    [batch, rows', cols', in_channels * depth_multiplier], tf.float32
    """

    def _grouped(self) -> bool:
        return (tuple(self.dilation_rate) != (1, 1) and tuple(self.strides) == (1, 1)
                and self.data_format == "channels_last")

    def call(self, inputs):
        if not self._grouped():
            return super().call(inputs)
        kh, kw, in_channels, multiplier = self.depthwise_kernel.shape
        # [kh, kw, in, m] -> [kh, kw, 1, in * m]: group c (input channel c) makes outputs c*m..c*m+m-1
        kernel = tf.reshape(self.depthwise_kernel, [kh, kw, 1, in_channels * multiplier])
        outputs = tf.nn.conv2d(inputs, kernel, strides=1, padding=self.padding.upper(),
                               dilations=list(self.dilation_rate))
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        return outputs if self.activation is None else self.activation(outputs)


def with_keras_layers(model: keras.Model) -> keras.Model:
    """A copy of ``model`` with each `GroupedDepthwiseConv2D` as Keras' own ``DepthwiseConv2D``.

    Same layer names, configuration and weights, the same function up to
    float32 summation order; for tools that recognise only Keras' layer
    classes (the TFLite converter, tensorflow-model-optimization). A model
    without grouped layers is returned as it is.

    Parameters
    ----------
    model : tf_keras.Model
        A functional model, for example `deeprx_tf.build_deeprx`.

    Returns
    -------
    tf_keras.Model
    """
    if not any(isinstance(layer, GroupedDepthwiseConv2D) for layer in model.layers):
        return model

    def clone(layer):
        if isinstance(layer, GroupedDepthwiseConv2D):
            return keras.layers.DepthwiseConv2D.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        copy.get_layer(layer.name).set_weights(layer.get_weights())
    return copy
