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

import functools
import itertools
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from sionna.phy import config as sionna_config

from deeprx_tf.config import DeepRxConfig, link_dimensions
from deeprx_tf.features import GridLayout
from deeprx_tf.privileged import PRIVILEGED_SIGNALS, channel_grid, num_channel_outputs
from deeprx_tf.train_config import TRAIN_CHANNEL_MODELS, VALIDATION_CHANNEL_MODELS
from link_sim import LinkConfig, LinkSimulator
from link_sim.errors import InputError

class LinkBatchMaker:
    """Draws batches of ``(features, target)`` from one scenario's link.

    Parameters
    ----------
    config : LinkConfig
        The scenario (its channel model and DMRS count are used as given).
    model_config : DeepRxConfig or None
        The model the features are for (its optional inputs); `None`: the
        published DeepRx's inputs.
    privileged : sequence of str
        Privileged targets to add (`deeprx_tf.privileged.PRIVILEGED_SIGNALS`):
        with any, the target is a dict ``{"bits": target, "channel": ...,
        "genie_llr": ...}``: the true channel
        (`deeprx_tf.privileged.channel_grid`) and the perfect-CSI LMMSE
        receiver's LLRs on the grid (`GridLayout.bits_to_grid`'s layout).
        They draw no random numbers: the batches are the same with and
        without them.
    """

    def __init__(self, config: LinkConfig, model_config: DeepRxConfig | None = None,
                 privileged: Sequence[str] = ()):
        unknown = set(privileged) - set(PRIVILEGED_SIGNALS)
        if unknown:
            raise InputError(f"unknown privileged signal(s) {', '.join(sorted(unknown))}: use "
                             f"{', '.join(PRIVILEGED_SIGNALS)}")
        self.config = config
        self.privileged = tuple(s for s in PRIVILEGED_SIGNALS if s in privileged)
        # the perfect-CSI receiver gives the genie LLRs; otherwise only `transmit` runs
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
        target = tf.concat([labels, mask], axis=-1)
        if not self.privileged:
            return features, target
        targets = {"bits": target}
        if "channel" in self.privileged:
            targets["channel"] = channel_grid(batch.h)
        if "genie_llr" in self.privileged:
            llr = self.simulator.receiver.compute_llr(batch.y, batch.no, batch.h)
            targets["genie_llr"] = self.layout.bits_to_grid(tf.cast(llr, tf.float32))
        return features, targets

    def __call__(self, batch_size: int, sinr_db):
        """A batch at the given SINR(s) [dB]: scalar or ``[batch_size]``."""
        return self._make(batch_size, tf.cast(sinr_db, tf.float32))


@functools.lru_cache(maxsize=32)
def _maker(config: LinkConfig, model_config: DeepRxConfig | None, privileged: tuple[str, ...]) -> LinkBatchMaker:
    """One `LinkBatchMaker` per scenario, shared by the datasets of a process: tracing its link
    takes seconds, and every draw seeds Sionna's generator first, so sharing changes no batch."""
    return LinkBatchMaker(config, model_config, privileged)


def _makers(config: LinkConfig, channel_models: Sequence[str], dmrs_symbols: Sequence[int],
            model_config: DeepRxConfig | None, privileged: Sequence[str] = ()):
    return [_maker(config.replace(channel_model=m, num_dmrs_symbols=d), model_config, tuple(privileged))
            for m in channel_models for d in dmrs_symbols]


def draw_sinr(rng: np.random.Generator, size: int, sinr_db: tuple[float, float], floor_fraction: float = 0.0,
              floor_db: tuple[float, float] = (25.0, 40.0),
              floor_rng: np.random.Generator | None = None) -> np.ndarray:
    """Training SINRs [dB]: uniform in ``sinr_db``, a ``floor_fraction`` of them uniform in ``floor_db``.

    ``rng`` makes the uniform draw, as it always has; which slots move to
    the floor range (``floor_db`` clipped to ``sinr_db``) is drawn from
    ``floor_rng``, and a moved slot's SINR is its uniform draw mapped
    linearly into that range. So ``rng``'s stream, and with it every other
    draw of the data (channel models, DMRS counts), is the same whatever
    ``floor_fraction`` is.

    Returns
    -------
    [size], np.float32
    """
    lo, hi = sinr_db
    sinr = rng.uniform(lo, hi, size=size)
    floor_lo, floor_hi = max(lo, floor_db[0]), min(hi, floor_db[1])
    if floor_fraction > 0 and floor_lo < floor_hi and hi > lo:
        moved = (floor_rng or np.random.default_rng()).random(size) < floor_fraction
        sinr = np.where(moved, floor_lo + (sinr - lo) / (hi - lo) * (floor_hi - floor_lo), sinr)
    return sinr.astype(np.float32)


def epoch_seed(seed: int, epoch: int) -> int:
    """The data seed of one epoch of a run of data seed ``seed`` (`training_dataset`)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def training_dataset(config: LinkConfig, batch_size: int, seed: int = 0,
                     channel_models: Sequence[str] = TRAIN_CHANNEL_MODELS,
                     dmrs_symbols: Sequence[int] = (1, 2), prefetch: int = 4,
                     model_config: DeepRxConfig | None = None, privileged: Sequence[str] = (),
                     sinr_floor_fraction: float = 0.0,
                     sinr_floor_db: tuple[float, float] = (25.0, 40.0),
                     steps_per_epoch: int | None = None, first_epoch: int = 0) -> tf.data.Dataset:
    """An endless, reproducible `tf.data.Dataset` of training batches.

    Each batch comes from one (channel model, DMRS count) pair drawn at
    random; within it, each slot has its own SINR (uniform in
    ``config.sinr_db``), delay spread, speed and fading. The same seed
    gives the same batches, provided nothing else draws from Sionna's
    random generator meanwhile. Batches are generated ahead (``prefetch``)
    on a background thread, so the model, not the generator, sets the pace
    where the CPU allows. ``model_config`` says which inputs the features
    hold, ``privileged`` which privileged targets they carry (see
    `LinkBatchMaker`); ``sinr_floor_fraction`` of the slots draw their SINR
    in ``sinr_floor_db`` instead (`draw_sinr`).

    With ``steps_per_epoch``, each epoch's batches are drawn from a seed
    of their own (`epoch_seed` of ``seed`` and the epoch), and the stream
    starts at ``first_epoch``: a run resumed at epoch ``e`` trains on the
    batches it would have seen uninterrupted. Without it, the whole
    stream comes from ``seed``.

    Returns
    -------
    tf.data.Dataset
        Elements ``(features [batch, S, F, num_input_channels],
        target [batch, S, F, num_layers * bits + 1])``, the target a dict
        with privileged targets (`LinkBatchMaker`).
    """
    makers = _makers(config, channel_models, dmrs_symbols, model_config, privileged)
    layout = makers[0].layout

    def batches(stream_seed: int, count: int | None):
        rng, floor_rng = np.random.default_rng(stream_seed), np.random.default_rng([stream_seed, 1])
        sionna_config.seed = stream_seed
        for _ in itertools.repeat(None) if count is None else range(count):
            maker = makers[rng.integers(len(makers))]
            yield maker(batch_size, draw_sinr(rng, batch_size, config.sinr_db, sinr_floor_fraction,
                                              sinr_floor_db, floor_rng))

    def generate():
        if steps_per_epoch is None:
            yield from batches(seed, None)
            return
        for epoch in itertools.count(first_epoch):
            yield from batches(epoch_seed(seed, epoch), steps_per_epoch)

    grid = [batch_size, layout.num_ofdm_symbols, layout.fft_size]
    num_channels = (model_config or DeepRxConfig(**link_dimensions(config))).num_input_channels
    target = tf.TensorSpec(grid + [layout.num_outputs + 1], tf.float32)
    if makers[0].privileged:
        widths = {"channel": num_channel_outputs(config), "genie_llr": layout.num_outputs}
        target = {"bits": target, **{s: tf.TensorSpec(grid + [widths[s]], tf.float32)
                                     for s in makers[0].privileged}}
    spec = (tf.TensorSpec(grid + [num_channels], tf.float32), target)
    # The prefetch depth is fixed, so tf.data's autotuning has nothing to tune; left on, its thread makes
    # the iterator's end (the end of every ``fit``) wait for a sleep that doubles from 10 ms.
    options = tf.data.Options()
    options.autotune.enabled = False
    return tf.data.Dataset.from_generator(generate, output_signature=spec).prefetch(prefetch).with_options(options)


def validation_sets(config: LinkConfig, sinr_db: Sequence[float], num_slots: int, seed: int = 1,
                    channel_models: Sequence[str] = VALIDATION_CHANNEL_MODELS,
                    dmrs_symbols: Sequence[int] = (1, 2), batch_size: int = 32,
                    model_config: DeepRxConfig | None = None, by_dmrs: bool = False) -> dict:
    """Fixed validation data per SINR point, generated once (the same for every epoch).

    ``num_slots`` per SINR point are split evenly over the (channel model,
    DMRS count) pairs; ``model_config`` says which inputs the features hold.
    ``by_dmrs`` splits the same slots by DMRS count.

    Returns
    -------
    dict
        SINR [dB] -> ``(features, target)`` numpy arrays; with ``by_dmrs``,
        DMRS count -> such a dict.
    """
    makers = _makers(config, channel_models, dmrs_symbols, model_config)
    per_maker = max(1, num_slots // len(makers))
    sionna_config.seed = seed
    batch_size = min(batch_size, per_maker)
    # SINR -> (DMRS count, (features, target)) of each maker, in the makers' order
    slots = {}
    for sinr in sinr_db:
        parts = slots.setdefault(float(sinr), [])
        for maker in makers:
            # whole batches of one size and a vector SINR: one trace per maker
            batches = [maker(batch_size, np.full(batch_size, sinr, np.float32))
                       for _ in range(-(-per_maker // batch_size))]
            parts.append((maker.config.num_dmrs_symbols,
                          tuple(np.concatenate([b[i].numpy() for b in batches])[:per_maker] for i in (0, 1))))

    def joined(parts, dmrs=None):
        kept = [part for d, part in parts if dmrs is None or d == dmrs]
        return tuple(np.concatenate([part[i] for part in kept]) for i in (0, 1))

    if by_dmrs:
        return {int(d): {sinr: joined(parts, int(d)) for sinr, parts in slots.items()} for d in dmrs_symbols}
    return {sinr: joined(parts) for sinr, parts in slots.items()}
