"""Training signals only the simulator has: the true channel, and a perfect-CSI receiver's LLRs.

No receiver knows the channel it receives through, but the link that
makes the training data does. Two signals use it, in training only:

- ``"channel"``: an auxiliary head (a 1x1 convolution on the features
  the logits are computed from) predicts the true channel at every
  resource element, with a mean squared error whose weight decays
  linearly to 0 over the run (NVIDIA's neural_rx trains its receiver with
  such a term). The head is not part of the DeepRx model that is saved,
  exported and profiled: zero inference FLOPs.
- ``"genie_llr"``: the LLRs of Sionna's LMMSE receiver given the true
  channel (`link_sim.LMMSEReceiver` with ``perfect_csi=True``) as soft
  targets, a cross-entropy to ``sigmoid(llr)`` beside the one to the true
  bits: a teacher that costs one LMMSE per slot and no network. Where
  its posteriors were exact, the soft targets have the same minimizer as
  the true bits with less gradient noise.

`PrivilegedTrainee` trains a DeepRx on batches whose target is a dict
(`deeprx_tf.dataset.training_dataset` with ``privileged=``): ``"bits"``
(the usual target), and ``"channel"`` and/or ``"genie_llr"``.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from deeprx_tf.losses import MaskedBitErrorRate, masked_bce, masked_mean

#: The privileged targets a training batch can carry.
PRIVILEGED_SIGNALS = ("channel", "genie_llr")
#: Genie LLRs are clipped to this magnitude before they become probabilities (|LLR| 20: p = 2e-9).
GENIE_LLR_CLIP = 20.0
#: The layer whose output feeds both the logits and the channel head.
FEATURE_LAYER = "head/relu"


def channel_grid(h):
    """The true channel of each resource element as real channels, antenna-major.

    Parameters
    ----------
    h : [batch, 1, num_rx_ant, 1, num_tx_ant, num_ofdm_symbols, fft_size], tf.complex
        Channel frequency response (`link_sim.LinkBatch.h`).

    Returns
    -------
    [batch, num_ofdm_symbols, fft_size, 2 * num_rx_ant * num_tx_ant], tf.float32
        Real parts of the (rx antenna, tx antenna) pairs, then their imaginary parts.
    """
    h = tf.cast(h, tf.complex64)
    # [batch, 1, rx, 1, tx, S, F] -> [batch, rx, tx, S, F] -> [batch, S, F, rx, tx]
    h = tf.transpose(h[:, 0, :, 0], [0, 3, 4, 1, 2])
    shape = tf.shape(h)
    # [batch, S, F, rx, tx] -> [batch, S, F, rx * tx]
    h = tf.reshape(h, tf.concat([shape[:3], [shape[3] * shape[4]]], 0))
    return tf.concat([tf.math.real(h), tf.math.imag(h)], axis=-1)


def num_channel_outputs(link_config) -> int:
    """Channels of `channel_grid` on a `link_sim.LinkConfig`'s link: the real and imaginary parts
    of each (receive antenna, transmit antenna) pair."""
    return 2 * link_config.num_rx_ant * link_config.num_tx_ant


def with_channel_head(model: keras.Model, num_channel_outputs: int) -> keras.Model:
    """``model``'s layers with a second output: a channel estimate from the features of its logits.

    Parameters
    ----------
    model : tf_keras.Model
        A DeepRx model (`deeprx_tf.build_deeprx`); its layers are shared,
        so training the returned model trains ``model``.
    num_channel_outputs : int
        `num_channel_outputs` of the link.

    Returns
    -------
    tf_keras.Model
        ``features -> [logits, channel]``, the channel
        ``[batch, S, F, num_channel_outputs]``, tf.float32.
    """
    features = model.get_layer(FEATURE_LAYER).output
    channel = keras.layers.Conv2D(num_channel_outputs, 1, name="aux/channel")(features)
    return keras.Model(model.inputs, [model.output, channel], name=f"{model.name}_with_channel_head")


class PrivilegedTrainee(keras.Model):
    """A DeepRx trained on the bits and on privileged targets (`PRIVILEGED_SIGNALS`).

    The loss of a batch is

    ``BCE(bits) + genie_loss_weight * BCE(sigmoid(genie_llr))
    + channel_loss_weight * (1 - step / decay_steps)^+ * MSE(channel)``,

    each term averaged over the data REs' bits (the channel MSE over every
    resource element and channel), then over the batch. Calling the
    trainee calls the DeepRx model alone, so callbacks and ``predict`` see
    it as it will be used. ``fit`` reports ``loss``, ``bits_loss``, the
    terms it trains with (``genie_loss``, ``channel_loss``) and the
    compiled metrics.

    Parameters
    ----------
    model : tf_keras.Model
        The DeepRx model to train.
    num_channel_outputs : int
        `num_channel_outputs` of the link; used with ``channel_loss_weight > 0``.
    channel_loss_weight : float
        Initial weight of the channel MSE (0: no channel head).
    genie_loss_weight : float
        Weight of the cross-entropy to the genie's soft bits (0: off).
    decay_steps : int
        Steps over which the channel weight falls linearly to 0.
    """

    def __init__(self, model: keras.Model, num_channel_outputs: int, channel_loss_weight: float = 0.0,
                 genie_loss_weight: float = 0.0, decay_steps: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.deeprx = model
        self.channel_loss_weight = float(channel_loss_weight)
        self.genie_loss_weight = float(genie_loss_weight)
        self.decay_steps = max(1, int(decay_steps))
        self.heads = with_channel_head(model, num_channel_outputs) if channel_loss_weight > 0 else None
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.loss_names}

    @property
    def loss_names(self) -> list[str]:
        """The loss terms ``fit`` reports."""
        return (["loss", "bits_loss"] + (["genie_loss"] if self.genie_loss_weight > 0 else [])
                + (["channel_loss"] if self.heads is not None else []))

    @property
    def signals(self) -> tuple[str, ...]:
        """The privileged targets the batches must carry."""
        return tuple(s for s, on in zip(PRIVILEGED_SIGNALS, (self.heads is not None, self.genie_loss_weight > 0))
                     if on)

    @property
    def metrics(self):
        own = list(self.trackers.values())
        return own + [m for m in super().metrics if all(m is not o for o in own)]

    def call(self, inputs, training=None):
        return self.deeprx(inputs, training=training)

    def channel_weight(self):
        """The channel term's weight at the optimizer's current step."""
        progress = tf.cast(self.optimizer.iterations, tf.float32) / self.decay_steps
        return self.channel_loss_weight * tf.maximum(0.0, 1.0 - progress)

    def _loss_terms(self, x, y, training: bool):
        """``(logits, {term: this replica's share of the global-batch mean})``."""
        target = y["bits"]
        if self.heads is not None:
            logits, channel = self.heads(x, training=training)
        else:
            logits = self.deeprx(x, training=training)
        terms = {"bits_loss": tf.nn.compute_average_loss(masked_bce(target, logits))}
        total = terms["bits_loss"]
        if self.genie_loss_weight > 0:
            soft = tf.sigmoid(tf.clip_by_value(y["genie_llr"], -GENIE_LLR_CLIP, GENIE_LLR_CLIP))
            bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=soft, logits=logits)
            terms["genie_loss"] = tf.nn.compute_average_loss(masked_mean(bce, target))
            total += self.genie_loss_weight * terms["genie_loss"]
        if self.heads is not None:
            # [batch, S, F, channels] -> [batch]
            mse = tf.reduce_mean(tf.square(channel - y["channel"]), axis=[1, 2, 3])
            terms["channel_loss"] = tf.nn.compute_average_loss(mse)
            total += self.channel_weight() * terms["channel_loss"]
        if self.deeprx.losses:
            total += tf.nn.scale_regularization_loss(tf.add_n(self.deeprx.losses))
        terms["loss"] = total
        return logits, terms

    def train_step(self, data):
        x, y = data
        trained = self.heads if self.heads is not None else self.deeprx
        with tf.GradientTape() as tape:
            logits, terms = self._loss_terms(x, y, training=True)
        variables = trained.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(terms["loss"], variables), variables))
        return self._update_metrics(y, logits, terms)

    def test_step(self, data):
        x, y = data
        logits, terms = self._loss_terms(x, y, training=False)
        return self._update_metrics(y, logits, terms)

    def _update_metrics(self, y, logits, terms):
        # the terms are per-replica shares of the global mean: report the global means
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        for name, value in terms.items():
            self.trackers[name].update_state(value * replicas)
        self.compiled_metrics.update_state(y["bits"], logits)
        return {m.name: m.result() for m in self.metrics}


def compile_privileged_trainee(model: keras.Model, optimizer, jit_compile: bool, *, num_channel_outputs: int,
                               channel_loss_weight: float, genie_loss_weight: float,
                               decay_steps: int) -> PrivilegedTrainee:
    """The compiled `PrivilegedTrainee` of ``model`` (`deeprx_tf.train_deeprx`'s ``compile_trainee``)."""
    trainee = PrivilegedTrainee(model, num_channel_outputs, channel_loss_weight, genie_loss_weight,
                                decay_steps)
    trainee.compile(optimizer=optimizer, metrics=[MaskedBitErrorRate()], jit_compile=jit_compile)
    return trainee
