"""Knowledge distillation as a tf_keras Model: keras.io's `Distiller` and DeepRx's eq. (2).

`Distiller` takes the code of keras.io's "Knowledge Distillation"
example unchanged (its constructor, ``compile`` arguments and loss
weighting); `DeepRxDistiller` is the same model with the DeepRx paper's
loss, the one ``deeprx distill`` trains with.
"""

from __future__ import annotations

import math

import tensorflow as tf
import tf_keras as keras

from deeprx_tf.losses import masked_bce
from distill.losses import masked_bitwise_kl
from link_sim.errors import InputError


def _require_tf_keras(model, role: str):
    if not isinstance(model, keras.Model):
        kind = type(model).__module__.split(".")[0]
        hint = ("it was built with Keras 3; build it with tf_keras (import tf_keras as keras)"
                if kind == "keras" else f"got {type(model).__name__}")
        raise TypeError(f"the {role} must be a tf_keras Model: {hint}")


def batch_mean(losses):
    """The global-batch mean of a loss, however the loss function reduced it.

    Parameters
    ----------
    losses : tf.float32, rank 0 or [batch, ...]
        A Keras loss' output with its default reduction (a scalar, the mean
        over this replica's batch) or per-sample losses (reduced here over
        the non-batch axes, then averaged over the global batch).

    Returns
    -------
    tf.float32 scalar
        This replica's share of the global mean: distribution strategies sum
        the replicas' gradients, so the shares add up to the mean.
    """
    losses = tf.convert_to_tensor(losses)
    if losses.shape.rank == 0:
        return losses / tf.distribute.get_strategy().num_replicas_in_sync
    if losses.shape.rank > 1:
        losses = tf.reduce_mean(losses, axis=list(range(1, losses.shape.rank)))
    return tf.nn.compute_average_loss(losses)


class Distiller(keras.Model):
    """A student trained to match a frozen teacher, exactly as keras.io's example.

    The loss is ``alpha * L_student + (1 - alpha) * T^2 * L_KD`` with
    ``L_student = student_loss_fn(y, z_s)`` and ``L_KD =
    distillation_loss_fn(softmax(z_t / T, axis=1), softmax(z_s / T, axis=1))``
    (Hinton et al.), ``z`` the models' logits. Losses may reduce as Keras'
    do by default (a batch mean) or return per-sample values. The teacher
    runs with ``training=False`` and is never updated. Calling the
    Distiller calls the student, so callbacks and ``predict`` see the
    student alone. ``fit`` and ``evaluate`` report ``loss``,
    ``student_loss``, ``distillation_loss`` and the compiled metrics, in
    the order of ``metrics_names``.

    Parameters
    ----------
    student, teacher : tf_keras.Model
        Models with the same input and output shapes; they output logits.
        A Keras 3 model is refused (this package trains with tf_keras).

    Example
    -------
    keras.io's usage, unchanged:

    >>> import numpy as np
    >>> import tf_keras as keras
    >>> teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> distiller = Distiller(student=student, teacher=teacher)
    >>> distiller.compile(optimizer=keras.optimizers.Adam(), metrics=[keras.metrics.SparseCategoricalAccuracy()],
    ...                   student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ...                   distillation_loss_fn=keras.losses.KLDivergence(), alpha=0.1, temperature=10)
    >>> history = distiller.fit(np.ones((8, 4)), np.zeros(8), epochs=1, verbose=0)
    >>> sorted(history.history)
    ['distillation_loss', 'loss', 'sparse_categorical_accuracy', 'student_loss']
    """

    def __init__(self, student: keras.Model, teacher: keras.Model, **kwargs):
        super().__init__(**kwargs)
        _require_tf_keras(student, "student")
        _require_tf_keras(teacher, "teacher")
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")

    def compile(self, optimizer="rmsprop", metrics=None, student_loss_fn=None,
                distillation_loss_fn=None, alpha: float = 0.1, temperature: float = 3.0,
                sobolev_weight: float = 0.0, **kwargs):
        """Configure the distillation (keras.io's arguments and defaults).

        Parameters
        ----------
        optimizer : tf_keras.optimizers.Optimizer or str
        metrics : list, optional
            Metrics of the student's predictions against the targets.
        student_loss_fn : callable
            ``(y, student_logits) -> loss``, e.g.
            ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``.
        distillation_loss_fn : callable, optional
            ``(teacher_probabilities, student_probabilities) -> loss``;
            ``keras.losses.KLDivergence()`` by default.
        alpha : float
            Weight of the student loss, in [0, 1].
        temperature : float
            Softening temperature T.
        sobolev_weight : float
            Weight of a Sobolev term (Czarnecki et al. 2017; the DeepRx
            paper's first future-work item): the mean squared difference
            between the student's and the teacher's input gradients of a
            random projection ``v . z`` of their logits, ``v`` drawn per
            step. 0 (default) turns it off.
        **kwargs
            Passed to `tf_keras.Model.compile` (``jit_compile`` ...).
        """
        if student_loss_fn is None:
            raise InputError("the Distiller needs a student_loss_fn")
        self.check_loss_weights(alpha, temperature, sobolev_weight)
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)
        self.student_loss_fn = student_loss_fn
        self.distillation_loss_fn = (distillation_loss_fn if distillation_loss_fn is not None
                                     else keras.losses.KLDivergence())
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        self.sobolev_weight = float(sobolev_weight)

    @classmethod
    def check_loss_weights(cls, alpha: float, temperature: float, sobolev_weight: float = 0.0) -> None:
        """Raise `InputError` unless ``compile`` would accept these weights."""
        if not 0 < temperature < math.inf:
            raise InputError(f"temperature must be a finite number > 0, got {temperature}")
        if not 0 <= sobolev_weight < math.inf:
            raise InputError(f"sobolev_weight must be a finite number >= 0, got {sobolev_weight}")
        cls._check_alpha(alpha)

    @staticmethod
    def _check_alpha(alpha):
        if not 0 <= alpha <= 1:
            raise InputError(f"alpha weighs the student loss against the distillation loss "
                             f"(alpha, 1 - alpha) and must be in [0, 1], got {alpha}")

    def distillation_loss(self, y, teacher_logits, student_logits):
        """``T^2 * distillation_loss_fn(softmax(z_t / T), softmax(z_s / T))`` (keras.io)."""
        t = self.temperature
        return t ** 2 * self.distillation_loss_fn(tf.nn.softmax(teacher_logits / t, axis=1),
                                                  tf.nn.softmax(student_logits / t, axis=1))

    def total_loss(self, student_loss, distillation_loss):
        """``alpha * student + (1 - alpha) * distillation`` (keras.io)."""
        return self.alpha * student_loss + (1.0 - self.alpha) * distillation_loss

    @property
    def metrics(self):
        # Keras resets these each epoch; it also tracks the attributes, so de-duplicate
        own = [self.loss_tracker, self.student_loss_tracker, self.distillation_loss_tracker]
        return own + [m for m in super().metrics if all(m is not o for o in own)]

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def losses_of(self, y, teacher_logits, student_logits):
        """``(total, student, distillation)`` losses of a batch, each this replica's
        share of the global-batch mean (see `batch_mean`)."""
        student = batch_mean(self.student_loss_fn(y, student_logits))
        kd = batch_mean(self.distillation_loss(y, teacher_logits, student_logits))
        return self.total_loss(student, kd), student, kd

    def sobolev_loss(self, x, training=True):
        """Per-sample mean squared difference of the input gradients of ``v . z`` of
        student and teacher, ``v`` a random projection of the logits.

        Returns
        -------
        student_logits : [batch, ...], tf.float32
        loss : [batch], tf.float32
        """
        x = tf.convert_to_tensor(x)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            student_logits = self.student(x, training=training)
            teacher_logits = self.teacher(x, training=False)
            v = tf.random.normal(tf.shape(student_logits))
            s_proj = tf.reduce_sum(v * student_logits)
            t_proj = tf.reduce_sum(v * teacher_logits)
        g_s, g_t = tape.gradient(s_proj, x), tf.stop_gradient(tape.gradient(t_proj, x))
        del tape
        # [batch, ...] -> [batch]
        loss = tf.reduce_mean(tf.reshape(tf.square(g_s - g_t), [tf.shape(x)[0], -1]), axis=-1)
        return student_logits, loss

    def train_step(self, data):
        x, y = data
        teacher_logits = tf.stop_gradient(self.teacher(x, training=False))
        with tf.GradientTape() as tape:
            if self.sobolev_weight > 0:
                student_logits, sobolev = self.sobolev_loss(x)
            else:
                student_logits = self.student(x, training=True)
            total, student, kd = self.losses_of(y, teacher_logits, student_logits)
            if self.sobolev_weight > 0:
                total += self.sobolev_weight * tf.nn.compute_average_loss(sobolev)
            if self.student.losses:
                total += tf.nn.scale_regularization_loss(tf.add_n(self.student.losses))
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        return self._update_metrics(y, student_logits, total, student, kd)

    def test_step(self, data):
        x, y = data
        student_logits = self.student(x, training=False)
        teacher_logits = self.teacher(x, training=False)
        total, student, kd = self.losses_of(y, teacher_logits, student_logits)
        return self._update_metrics(y, student_logits, total, student, kd)

    def _update_metrics(self, y, student_logits, total, student, kd):
        # under a strategy the losses above are per-replica shares: report the global means
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.loss_tracker.update_state(total * replicas)
        self.student_loss_tracker.update_state(student * replicas)
        self.distillation_loss_tracker.update_state(kd * replicas)
        self.compiled_metrics.update_state(y, student_logits)
        return {m.name: m.result() for m in self.metrics}


class DeepRxDistiller(Distiller):
    """`Distiller` with the DeepRx paper's loss, eq. (2): ``alpha * L_student + L_KD``.

    Unlike keras.io's weighting, ``alpha`` is any non-negative weight of the
    student loss (the paper searched 0.1 to 5e5) and the distillation term
    is not scaled by ``1 - alpha``; nor by ``T^2`` unless ``scale_by_t2``.
    The distillation loss sees the target and both models' logits, so it
    can soften per bit and average over the data REs: the default is
    `distill.losses.masked_bitwise_kl`, the KL divergence of the student's
    from the teacher's bit probabilities ``sigmoid(z / T)``, and the
    student loss `deeprx_tf.losses.masked_bce`. ``deeprx distill`` trains
    with this class.
    """

    def compile(self, optimizer="rmsprop", metrics=None, student_loss_fn=masked_bce,
                distillation_loss_fn=masked_bitwise_kl, alpha: float = 1.0,
                temperature: float = 1.0, scale_by_t2: bool = False, sobolev_weight: float = 0.0,
                **kwargs):
        """Configure the distillation.

        Parameters
        ----------
        optimizer, metrics, sobolev_weight, **kwargs
            As `Distiller.compile`.
        student_loss_fn : callable
            ``(target, student_logits) -> [batch]``.
        distillation_loss_fn : callable
            ``(target, teacher_logits, student_logits, temperature) -> [batch]``.
        alpha : float
            Weight (>= 0) of the student loss.
        temperature : float
            Softening temperature T (the paper searched 1 to 5).
        scale_by_t2 : bool
            Multiply ``L_KD`` by ``T^2`` (Hinton et al.); the paper does not.
        """
        super().compile(optimizer=optimizer, metrics=metrics, student_loss_fn=student_loss_fn,
                        distillation_loss_fn=distillation_loss_fn, alpha=alpha,
                        temperature=temperature, sobolev_weight=sobolev_weight, **kwargs)
        self.scale_by_t2 = bool(scale_by_t2)

    @staticmethod
    def _check_alpha(alpha):
        if not 0 <= alpha < math.inf:
            raise InputError(f"alpha must be a finite number >= 0, got {alpha}")

    def distillation_loss(self, y, teacher_logits, student_logits):
        """``distillation_loss_fn(target, z_t, z_s, T)``, times ``T^2`` with ``scale_by_t2``."""
        kd = self.distillation_loss_fn(y, teacher_logits, student_logits, self.temperature)
        return kd * self.temperature ** 2 if self.scale_by_t2 else kd

    def total_loss(self, student_loss, distillation_loss):
        """``alpha * student + distillation`` (the paper's eq. 2)."""
        return self.alpha * student_loss + distillation_loss
