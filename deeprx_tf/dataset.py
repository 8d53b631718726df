"""Training and validation data for DeepRx: the link of `link_sim`, cut before the receiver.

Each example is ``(features, target)``:

- ``features`` : [num_ofdm_symbols, num_subcarriers, num_input_channels], tf.float32
  (`DeepRxConfig.num_input_channels`: ``4 * num_rx_ant + 2`` for the published inputs)
- ``target`` : [num_ofdm_symbols, num_subcarriers, num_layers * num_bits_per_symbol + 1],
  tf.float32, the coded bits of each data resource element (layer-major, see
  `deeprx_tf.features.GridLayout`) followed by the data mask
  (1 at data REs, 0 at DMRS and empty REs). Packing the mask into the
  target keeps Keras' ``fit``, its losses, metrics and distribution
  strategies unchanged.
"""

from __future__ import annotations

import link_sim.tfenv  # noqa: F401  (before TensorFlow)

from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from sionna.phy import config as sionna_config

from deeprx_tf.config import DeepRxConfig, link_dimensions
from deeprx_tf.features import GridLayout
from deeprx_tf.train_config import TRAIN_CHANNEL_MODELS, VALIDATION_CHANNEL_MODELS
from link_sim import LinkConfig, LinkSimulator

class LinkBatchMaker:
    """Draws batches of ``(features, target)`` from one scenario's link.

    Parameters
    ----------
    config : LinkConfig
        The scenario (its channel model and DMRS count are used as given).
    model_config : DeepRxConfig or None
        The model the features are for (its optional inputs); `None`: the
        published DeepRx's inputs.
    """

    def __init__(self, config: LinkConfig, model_config: DeepRxConfig | None = None):
        self.config = config
        # the receiver is not used: only `transmit` runs
        self.simulator = LinkSimulator(config, receiver="perfect-csi")
        options = model_config.feature_options() if model_config is not None else {}
        self.layout = GridLayout(self.simulator.transmitter, **options)
        self._make = tf.function(self._make_batch)

    def _make_batch(self, batch_size, sinr_db):
        batch = self.simulator.transmit(batch_size, sinr_db)
        features = self.layout.features(batch.y, batch.no)
        labels = self.layout.bits_to_grid(batch.c)
        # [S, F] -> [batch, S, F, 1]
        mask = tf.broadcast_to(self.layout.data_mask[None, :, :, None], tf.shape(labels[..., :1]))
        return features, tf.concat([labels, mask], axis=-1)

    def __call__(self, batch_size: int, sinr_db):
        """A batch at the given SINR(s) [dB]: scalar or ``[batch_size]``."""
        return self._make(batch_size, tf.cast(sinr_db, tf.float32))


def _makers(config: LinkConfig, channel_models: Sequence[str], dmrs_symbols: Sequence[int],
            model_config: DeepRxConfig | None):
    return [LinkBatchMaker(config.replace(channel_model=m, num_dmrs_symbols=d), model_config)
            for m in channel_models for d in dmrs_symbols]


def training_dataset(config: LinkConfig, batch_size: int, seed: int = 0,
                     channel_models: Sequence[str] = TRAIN_CHANNEL_MODELS,
                     dmrs_symbols: Sequence[int] = (1, 2), prefetch: int = 4,
                     model_config: DeepRxConfig | None = None) -> tf.data.Dataset:
    """An endless, reproducible `tf.data.Dataset` of training batches.

    Each batch comes from one (channel model, DMRS count) pair drawn at
    random; within it, each slot has its own SINR (uniform in
    ``config.sinr_db``), delay spread, speed and fading. The same seed
    gives the same batches, provided nothing else draws from Sionna's
    random generator meanwhile. Batches are generated ahead (``prefetch``)
    on a background thread, so the model, not the generator, sets the pace
    where the CPU allows. ``model_config`` says which inputs the features
    hold (see `LinkBatchMaker`).

    Returns
    -------
    tf.data.Dataset
        Elements ``(features [batch, S, F, num_input_channels],
        target [batch, S, F, num_layers * bits + 1])``.
    """
    makers = _makers(config, channel_models, dmrs_symbols, model_config)
    lo, hi = config.sinr_db
    layout = makers[0].layout

    def generate():
        rng = np.random.default_rng(seed)
        sionna_config.seed = seed
        while True:
            maker = makers[rng.integers(len(makers))]
            sinr = rng.uniform(lo, hi, size=batch_size).astype(np.float32)
            yield maker(batch_size, sinr)

    bits = layout.num_outputs
    num_channels = (model_config or DeepRxConfig(**link_dimensions(config))).num_input_channels
    spec = (tf.TensorSpec([batch_size, layout.num_ofdm_symbols, layout.fft_size, num_channels],
                          tf.float32),
            tf.TensorSpec([batch_size, layout.num_ofdm_symbols, layout.fft_size, bits + 1], tf.float32))
    return tf.data.Dataset.from_generator(generate, output_signature=spec).prefetch(prefetch)


def validation_sets(config: LinkConfig, sinr_db: Sequence[float], num_slots: int, seed: int = 1,
                    channel_models: Sequence[str] = VALIDATION_CHANNEL_MODELS,
                    dmrs_symbols: Sequence[int] = (1, 2), batch_size: int = 32,
                    model_config: DeepRxConfig | None = None) -> dict[float, tuple]:
    """Fixed validation data per SINR point, generated once (the same for every epoch).

    ``num_slots`` per SINR point are split evenly over the (channel model,
    DMRS count) pairs; ``model_config`` says which inputs the features hold.

    Returns
    -------
    dict
        SINR [dB] -> ``(features, target)`` numpy arrays.
    """
    makers = _makers(config, channel_models, dmrs_symbols, model_config)
    per_maker = max(1, num_slots // len(makers))
    sionna_config.seed = seed
    batch_size = min(batch_size, per_maker)
    sets = {}
    for sinr in sinr_db:
        features, targets = [], []
        for maker in makers:
            # whole batches of one size and a vector SINR: one trace per maker
            batches = [maker(batch_size, np.full(batch_size, sinr, np.float32))
                       for _ in range(-(-per_maker // batch_size))]
            features.append(np.concatenate([b[0].numpy() for b in batches])[:per_maker])
            targets.append(np.concatenate([b[1].numpy() for b in batches])[:per_maker])
        sets[float(sinr)] = (np.concatenate(features), np.concatenate(targets))
    return sets
