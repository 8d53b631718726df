"""`Lamb`: layer-wise adaptive moments (You et al., ICLR 2020), the DeepRx paper's optimizer.

tf_keras 2.19 has Adam, AdamW and Lion but no LAMB, and TensorFlow Addons,
which had one, does not support TensorFlow 2.19. This is the algorithm of
the LAMB paper (Algorithm 2) in tf_keras' optimizer API: Adam's bias-
corrected moments, decoupled weight decay, and a per-variable trust ratio
``||w|| / ||update||`` that scales each layer's step.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from deeprx_tf.train_config import OPTIMIZERS


@keras.utils.register_keras_serializable("deeprx")
class Lamb(keras.optimizers.Optimizer):
    r"""LAMB: Adam's update, plus weight decay, scaled per variable by a trust ratio.

    For each variable ``w`` with gradient ``g`` at step ``t``:

    .. math::

        m = \beta_1 m + (1 - \beta_1) g, \quad v = \beta_2 v + (1 - \beta_2) g^2

        r = \frac{m / (1 - \beta_1^t)}{\sqrt{v / (1 - \beta_2^t)} + \epsilon} + \lambda w

        w \leftarrow w - \eta \, \frac{\|w\|}{\|r\|} \, r

    where the trust ratio ``||w|| / ||r||`` is 1 if either norm is 0.

    Parameters
    ----------
    learning_rate : float or tf_keras LearningRateSchedule
        :math:`\eta`.
    beta_1, beta_2, epsilon : float
        Adam's.
    lamb_weight_decay : float
        :math:`\lambda`, decoupled weight decay inside the trust ratio
        (1e-4 in public DeepRx reproductions).
    **kwargs
        `tf_keras.optimizers.Optimizer`'s (``global_clipnorm`` ...).

    Example
    -------
    >>> optimizer = Lamb(1e-2, lamb_weight_decay=1e-4)
    >>> w = tf.Variable([3.0, 4.0])
    >>> _ = optimizer.apply_gradients([(tf.constant([1.0, 1.0]), w)])
    >>> [round(float(x), 4) for x in w.numpy()]
    [2.9646, 3.9646]
    """

    def __init__(self, learning_rate=1e-2, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-6, lamb_weight_decay: float = 0.0, name: str = "Lamb", **kwargs):
        super().__init__(name=name, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.lamb_weight_decay = lamb_weight_decay

    def build(self, var_list):
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        self._built = True
        self._momentums = [self.add_variable_from_reference(var, "m") for var in var_list]
        self._velocities = [self.add_variable_from_reference(var, "v") for var in var_list]

    def update_step(self, gradient, variable):
        dtype = variable.dtype
        lr = tf.cast(self.learning_rate, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        index = self._index_dict[self._var_key(variable)]
        m, v = self._momentums[index], self._velocities[index]
        gradient = tf.convert_to_tensor(gradient)
        m.assign(self.beta_1 * m + (1.0 - self.beta_1) * gradient)
        v.assign(self.beta_2 * v + (1.0 - self.beta_2) * tf.square(gradient))
        m_hat = m / (1.0 - tf.pow(tf.cast(self.beta_1, dtype), step))
        v_hat = v / (1.0 - tf.pow(tf.cast(self.beta_2, dtype), step))
        update = m_hat / (tf.sqrt(v_hat) + self.epsilon) + self.lamb_weight_decay * variable
        w_norm, r_norm = tf.norm(variable), tf.norm(update)
        trust = tf.where((w_norm > 0) & (r_norm > 0), w_norm / tf.maximum(r_norm, 1e-30),
                         tf.ones_like(w_norm))
        variable.assign_sub(lr * trust * update)

    def get_config(self):
        config = super().get_config()
        config.update(learning_rate=self._serialize_hyperparameter(self._learning_rate),
                      beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
                      lamb_weight_decay=self.lamb_weight_decay)
        return config


def make_optimizer(name: str, learning_rate, weight_decay: float = 0.0) -> keras.optimizers.Optimizer:
    """``"adam"`` (`tf_keras.optimizers.Adam`) or ``"lamb"`` (`Lamb` with ``weight_decay``)."""
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "lamb":
        return Lamb(learning_rate, lamb_weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}: use {', '.join(OPTIMIZERS)}")
