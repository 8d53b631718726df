"""Knowledge-distillation losses.

DeepRx outputs independent per-bit logits, so the paper's
``softmax(z / T)`` of a bit is the two-class softmax over ``(0, z)``:
``p = sigmoid(z / T)``. `masked_bitwise_kl` is the KL divergence of the
student's from the teacher's bit probabilities, averaged over the data
REs and bits like `deeprx_tf.losses.masked_bce`. `categorical_kl` is the
softmax form for models whose outputs are classes.

Neither multiplies by ``T^2``: the paper's eq. (2) is
``alpha * L_student + L_KD`` with no such factor. Hinton et al.'s ``T^2``
scaling (gradients of the soft term keep their size as T changes) is the
``scale_by_t2`` option of `distill.DeepRxDistiller.compile`. Like
`deeprx_tf.losses`, this module does not import Sionna.
"""

from __future__ import annotations

import link_sim.tfenv  # noqa: F401  (before TensorFlow)

import tensorflow as tf

from deeprx_tf.losses import masked_mean


def bitwise_kl(teacher_logits, student_logits, temperature: float = 1.0):
    """Per-bit KL( sigmoid(z_t / T) || sigmoid(z_s / T) ).

    Parameters
    ----------
    teacher_logits, student_logits : [..., bits], tf.float32
    temperature : float

    Returns
    -------
    [..., bits], tf.float32
        ``p_t log(p_t / p_s) + (1 - p_t) log((1 - p_t) / (1 - p_s))``,
        computed from log-sigmoids (stable for large logits).
    """
    zt = tf.cast(teacher_logits, tf.float32) / temperature
    zs = tf.cast(student_logits, tf.float32) / temperature
    p_t = tf.sigmoid(zt)
    # log p = log_sigmoid(z), log(1 - p) = log_sigmoid(-z)
    return (p_t * (tf.math.log_sigmoid(zt) - tf.math.log_sigmoid(zs))
            + (1.0 - p_t) * (tf.math.log_sigmoid(-zt) - tf.math.log_sigmoid(-zs)))


def masked_bitwise_kl(target, teacher_logits, student_logits, temperature: float = 1.0):
    """`bitwise_kl` averaged over the data REs' bits of each slot.

    Parameters
    ----------
    target : [batch, S, F, bits + 1], tf.float32
        Labels and data mask (`deeprx_tf.dataset`); only the mask is used.
    teacher_logits, student_logits : [batch, S, F, bits], tf.float32
    temperature : float

    Returns
    -------
    [batch], tf.float32
    """
    return masked_mean(bitwise_kl(teacher_logits, student_logits, temperature), target)


def categorical_kl(teacher_logits, student_logits, temperature: float = 1.0):
    """KL( softmax(z_t / T) || softmax(z_s / T) ) over the last axis.

    Parameters
    ----------
    teacher_logits, student_logits : [..., classes], tf.float32

    Returns
    -------
    [...], tf.float32
    """
    log_t = tf.nn.log_softmax(tf.cast(teacher_logits, tf.float32) / temperature, axis=-1)
    log_s = tf.nn.log_softmax(tf.cast(student_logits, tf.float32) / temperature, axis=-1)
    return tf.reduce_sum(tf.exp(log_t) * (log_t - log_s), axis=-1)
