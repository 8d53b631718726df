"""`Distiller`: a student trained against a frozen teacher, as a tf_keras Model."""

from __future__ import annotations

import link_sim.tfenv  # noqa: F401  (before TensorFlow)

import tensorflow as tf
import tf_keras as keras

from distill.losses import masked_bitwise_kl


class Distiller(keras.Model):
    """Knowledge distillation of a DeepRx (or any logits model) into a student.

    The total loss is the paper's eq. (2), ``alpha * L_student + L_KD``
    (not keras.io's ``alpha, 1 - alpha`` weighting): ``L_student`` is the
    student's loss on the labels, ``L_KD`` the distillation loss between
    teacher and student at temperature ``T``, optionally times ``T^2``.
    The teacher runs with ``training=False`` outside the gradient tape and
    is never updated. Calling the Distiller calls the student, so Keras
    callbacks, validation and ``evaluate`` see the student alone.

    Parameters
    ----------
    student, teacher : tf_keras.Model
        Models with the same input and output shapes (logits).
    """

    def __init__(self, student: keras.Model, teacher: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def compile(self, optimizer, metrics=None, student_loss_fn=None,
                distillation_loss_fn=masked_bitwise_kl, alpha: float = 1.0,
                temperature: float = 1.0, scale_by_t2: bool = False, sobolev_weight: float = 0.0,
                **kwargs):
        """Configure the distillation.

        Parameters
        ----------
        optimizer : tf_keras.optimizers.Optimizer
        metrics : list, optional
            Metrics of the student's predictions against the targets.
        student_loss_fn : callable
            ``(target, student_logits) -> [batch]``, e.g. `deeprx_tf.training.masked_bce`.
        distillation_loss_fn : callable
            ``(target, teacher_logits, student_logits, temperature) -> [batch]``;
            `distill.losses.masked_bitwise_kl` by default.
        alpha : float
            Weight of the student loss (the paper searched 0.1 to 1e6).
        temperature : float
            Softening temperature T (the paper searched 1 to 5).
        scale_by_t2 : bool
            Multiply ``L_KD`` by ``T^2`` (Hinton et al.); the paper does not.
        sobolev_weight : float
            Weight of a Sobolev term (the paper's first future-work item,
            Czarnecki et al. 2017): the mean squared difference between the
            student's and the teacher's input gradients of a random
            projection of their logits, ``d(v . z)/dx`` with ``v`` drawn
            per step. 0 (default) turns it off.
        """
        if student_loss_fn is None:
            raise ValueError("the Distiller needs a student_loss_fn")
        if not alpha >= 0 or not temperature > 0:
            raise ValueError("alpha must be >= 0 and temperature > 0")
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)
        self.student_loss_fn = student_loss_fn
        self.distillation_loss_fn = distillation_loss_fn
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        self.scale_by_t2 = bool(scale_by_t2)
        if not sobolev_weight >= 0:
            raise ValueError("sobolev_weight must be >= 0")
        self.sobolev_weight = float(sobolev_weight)

    @property
    def metrics(self):
        # Keras resets these each epoch; it also tracks the attributes, so de-duplicate
        own = [self.loss_tracker, self.student_loss_tracker, self.distillation_loss_tracker]
        return own + [m for m in super().metrics if all(m is not o for o in own)]

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def losses_of(self, target, teacher_logits, student_logits):
        """``(total, student, distillation)`` losses of a batch, each averaged over the
        global batch (`tf.nn.compute_average_loss`, so distribution strategies sum correctly)."""
        student = tf.nn.compute_average_loss(self.student_loss_fn(target, student_logits))
        kd = tf.nn.compute_average_loss(
            self.distillation_loss_fn(target, teacher_logits, student_logits, self.temperature))
        if self.scale_by_t2:
            kd = kd * self.temperature ** 2
        return self.alpha * student + kd, student, kd

    def sobolev_loss(self, x, training=True):
        """Per-sample mean squared difference of the input gradients of ``v . z`` of
        student and teacher, ``v`` a random projection of the logits.

        Returns
        -------
        student_logits : [batch, ..., bits], tf.float32
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
        x, target = data
        teacher_logits = tf.stop_gradient(self.teacher(x, training=False))
        with tf.GradientTape() as tape:
            if self.sobolev_weight > 0:
                student_logits, sobolev = self.sobolev_loss(x)
            else:
                student_logits = self.student(x, training=True)
            total, student, kd = self.losses_of(target, teacher_logits, student_logits)
            if self.sobolev_weight > 0:
                total += self.sobolev_weight * tf.nn.compute_average_loss(sobolev)
            if self.student.losses:
                total += tf.nn.scale_regularization_loss(tf.add_n(self.student.losses))
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        return self._update_metrics(target, student_logits, total, student, kd)

    def test_step(self, data):
        x, target = data
        student_logits = self.student(x, training=False)
        student = tf.nn.compute_average_loss(self.student_loss_fn(target, student_logits))
        self.compiled_metrics.update_state(target, student_logits)
        self.loss_tracker.update_state(student)
        self.student_loss_tracker.update_state(student)
        return {m.name: m.result() for m in self.metrics if m is not self.distillation_loss_tracker}

    def _update_metrics(self, target, student_logits, total, student, kd):
        # under a strategy the losses above are per-replica shares: report the global means
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.loss_tracker.update_state(total * replicas)
        self.student_loss_tracker.update_state(student * replicas)
        self.distillation_loss_tracker.update_state(kd * replicas)
        self.compiled_metrics.update_state(target, student_logits)
        return {m.name: m.result() for m in self.metrics}
