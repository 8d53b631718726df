"""DeepRx's masked losses and metric: averages over the data resource elements' bits.

A DeepRx target packs the bit labels and the data mask into one tensor
(``[batch, S, F, bits + 1]``, see `deeprx_tf.dataset`), so that Keras'
``fit``, its losses, metrics and distribution strategies take it
unchanged. Every loss here reduces to one value per slot: the mean over
the data REs (mask 1) and their bits. This module needs TensorFlow and
Keras only, not Sionna.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


def split_target(target):
    """``target [..., bits + 1]`` to ``labels [..., bits]`` and ``mask [...]``."""
    return target[..., :-1], target[..., -1]


def masked_sum(values, target):
    """Sum of per-bit ``values`` over each slot's data REs and bits.

    Parameters
    ----------
    values : [batch, S, F, bits], tf.float32
    target : [batch, S, F, bits + 1], tf.float32
        Labels and data mask; only the mask is used.

    Returns
    -------
    [batch], tf.float32
    """
    _, mask = split_target(target)
    # [batch, S, F, bits] -> [batch]
    return tf.reduce_sum(values * mask[..., None], axis=[1, 2, 3])


def masked_mean(values, target):
    """Mean of per-bit ``values`` over each slot's data REs and bits.

    Parameters
    ----------
    values : [batch, S, F, bits], tf.float32
        A per-bit quantity, e.g. a cross-entropy.
    target : [batch, S, F, bits + 1], tf.float32
        Labels and data mask; only the mask is used.

    Returns
    -------
    [batch], tf.float32
    """
    labels, mask = split_target(target)
    # [batch, S, F] -> [batch]: data REs x bits
    count = tf.reduce_sum(mask, axis=[1, 2]) * tf.cast(tf.shape(labels)[-1], tf.float32)
    return masked_sum(values, target) / count


@keras.utils.register_keras_serializable("deeprx")
def masked_bce(target, logits):
    """Binary cross-entropy on logits, averaged over the data REs' bits.

    Parameters
    ----------
    target : [batch, S, F, bits + 1], tf.float32
        Bit labels and the data mask (see `deeprx_tf.dataset`).
    logits : [batch, S, F, bits], tf.float32

    Returns
    -------
    [batch], tf.float32
        Per-slot loss (Keras averages it over the batch and the replicas).
    """
    labels, _ = split_target(target)
    bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=tf.cast(logits, tf.float32))
    return masked_mean(bce, target)


def masked_bit_errors(target, logits):
    """Errors of the hard decisions ``logits > 0`` on the data REs, and the bits counted.

    Parameters
    ----------
    target : [batch, S, F, bits + 1], tf.float32
    logits : [batch, S, F, bits], tf.float32

    Returns
    -------
    errors, bits : tf.float64 scalars
    """
    labels, mask = split_target(target)
    wrong = tf.cast(tf.not_equal(tf.cast(logits > 0, labels.dtype), labels), tf.float64)
    mask = tf.cast(mask, tf.float64)[..., None]
    return (tf.reduce_sum(wrong * mask),
            tf.reduce_sum(mask) * tf.cast(tf.shape(labels)[-1], tf.float64))


class MaskedBitErrorRate(keras.metrics.Metric):
    """Uncoded BER of the hard decisions ``logits > 0`` on the data REs."""

    def __init__(self, name="ber", **kwargs):
        super().__init__(name=name, **kwargs)
        self.errors = self.add_weight("errors", initializer="zeros", dtype=tf.float64)
        self.bits = self.add_weight("bits", initializer="zeros", dtype=tf.float64)

    def update_state(self, target, logits, sample_weight=None):
        errors, bits = masked_bit_errors(target, logits)
        self.errors.assign_add(errors)
        self.bits.assign_add(bits)

    def result(self):
        return tf.math.divide_no_nan(self.errors, self.bits)

    def reset_state(self):
        self.errors.assign(0.0)
        self.bits.assign(0.0)
