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

import tensorflow as tf

from deeprx_tf.losses import masked_mean, masked_sum
from distill.plan import KD_LOSS_NAMES, KD_REDUCTIONS
from link_sim.errors import InputError


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


def _reduce(values, target, reduction: str):
    if reduction not in KD_REDUCTIONS:
        raise InputError(f"reduction must be one of {', '.join(KD_REDUCTIONS)}, got {reduction!r}")
    return masked_mean(values, target) if reduction == "mean" else masked_sum(values, target)


def masked_bitwise_kl(target, teacher_logits, student_logits, temperature: float = 1.0,
                      reduction: str = "mean"):
    """`bitwise_kl` over the data REs' bits of each slot (the paper's L_KD).

    Parameters
    ----------
    target : [batch, S, F, bits + 1], tf.float32
        Labels and data mask (`deeprx_tf.dataset`); only the mask is used.
    teacher_logits, student_logits : [batch, S, F, bits], tf.float32
    temperature : float
    reduction : "mean" or "sum"
        Per slot, the mean over its data REs and bits (like the student's masked
        BCE) or their sum (the KD term then grows with the grid, the scale at
        which large alphas such as the paper's 5e5 balance the two terms).

    Returns
    -------
    [batch], tf.float32
    """
    return _reduce(bitwise_kl(teacher_logits, student_logits, temperature), target, reduction)


#: Logits are clipped to +-LOGIT_CLIP before logit matching: beyond it a bit is certain
#: either way, and the teacher's largest logits would otherwise dominate the squared error.
LOGIT_CLIP = 20.0


def masked_logit_mse(target, teacher_logits, student_logits, temperature: float = 1.0,
                     reduction: str = "mean", clip: float = LOGIT_CLIP):
    """Logit matching: squared difference of the clipped logits over the data REs' bits.

    ``(clip(z_s / T) - clip(z_t / T))^2`` per bit (Ba and Caruana's logit
    regression, with the temperature scaling both logits alike).

    Parameters
    ----------
    target : [batch, S, F, bits + 1], tf.float32
        Labels and data mask; only the mask is used.
    teacher_logits, student_logits : [batch, S, F, bits], tf.float32
    temperature : float
    reduction : "mean" or "sum"
        As in `masked_bitwise_kl`.
    clip : float
        Logits are clipped to ``[-clip, clip]`` (after the temperature).

    Returns
    -------
    [batch], tf.float32
    """
    zt = tf.clip_by_value(tf.cast(teacher_logits, tf.float32) / temperature, -clip, clip)
    zs = tf.clip_by_value(tf.cast(student_logits, tf.float32) / temperature, -clip, clip)
    return _reduce(tf.square(zs - zt), target, reduction)


#: Distillation losses of `distill.DeepRxDistiller` by name (``deeprx distill --kd-loss``).
KD_LOSSES = dict(zip(KD_LOSS_NAMES, (masked_bitwise_kl, masked_logit_mse)))


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
