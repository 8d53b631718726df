"""Batch-normalization statistics per DMRS count: `BatchNormStatistics`.

Training draws each batch from one (channel model, DMRS count) pair, so in
training every batch normalization normalizes with the statistics of one
pilot pattern, while its moving statistics (momentum 0.99) average over
whichever pairs the last hundred batches happened to be. One and two DMRS
symbols give different inputs, so at inference the moving statistics fit
neither. A checkpoint can therefore keep, beside its weights, the
statistics each DMRS count's training slots give every batch
normalization; `deeprx_tf.checkpoint.Checkpoint.model_for` serves the
model of a link's DMRS count, and `DeepRxReceiver` and the export use it.
The weights are the same for every DMRS count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import tensorflow as tf
import tf_keras as keras

from deeprx_tf.config import DeepRxConfig
from deeprx_tf.model import build_deeprx, config_of
from deeprx_tf.train_config import BATCH_NORM_SEED, BATCH_NORM_SLOTS, TRAIN_CHANNEL_MODELS
from link_sim import LinkConfig
from link_sim.errors import InputError



def batch_norm_layers(model) -> list:
    """The model's `BatchNormalization` layers, in the model's layer order."""
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def statistics_features(link_config: LinkConfig, dmrs_symbols: Sequence[int] = (1, 2),
                        num_slots: int = BATCH_NORM_SLOTS, seed: int = BATCH_NORM_SEED,
                        channel_models: Sequence[str] = TRAIN_CHANNEL_MODELS,
                        model_config: DeepRxConfig | None = None, batch_size: int = 16
                        ) -> dict[int, np.ndarray]:
    """Training slots of each DMRS count, to estimate batch-norm statistics from.

    The slots are `deeprx_tf.dataset.training_dataset`'s (its channel
    models, SINRs, speeds; data seed ``seed``) with one DMRS count at a
    time, drawn in batches of ``batch_size``. Like the dataset, this
    reseeds Sionna's random generator.

    Returns
    -------
    dict
        DMRS count -> features ``[num_slots, num_ofdm_symbols, num_subcarriers,
        num_input_channels]``, np.float32 (``num_slots`` rounded down to whole
        batches).
    """
    from deeprx_tf.dataset import training_dataset  # the dataset imports Sionna's link

    if num_slots < batch_size:
        raise InputError(f"batch-norm statistics need at least one batch of {batch_size} slots, got {num_slots}")
    features = {}
    for dmrs in dmrs_symbols:
        data = training_dataset(link_config, batch_size, seed=seed, channel_models=channel_models,
                                dmrs_symbols=(int(dmrs),), model_config=model_config)
        features[int(dmrs)] = np.concatenate([batch[0].numpy() for batch in data.take(num_slots // batch_size)])
    return features


class BatchNormStatistics:
    r"""Moving mean and variance of every batch normalization of a DeepRx, per DMRS count.

    Parameters
    ----------
    by_dmrs : mapping
        DMRS count -> {layer name -> (moving mean, moving variance)},
        each ``[channels]`` float32.
    info : dict, optional
        How they were estimated (slots, seed, channel models), for the
        model card.

    Example
    -------
    >>> from deeprx_tf import DeepRxConfig, build_deeprx
    >>> from link_sim import LinkConfig
    >>> model = build_deeprx(DeepRxConfig().scaled(0.125))
    >>> slots = statistics_features(LinkConfig(num_prb=1), num_slots=16)
    >>> stats = BatchNormStatistics.estimate(model, slots)
    >>> stats.dmrs_symbols
    (1, 2)
    >>> stats.assign(model, 1)  # the model now normalizes as for one DMRS symbol
    """

    def __init__(self, by_dmrs: Mapping[int, Mapping[str, tuple[np.ndarray, np.ndarray]]],
                 info: dict | None = None):
        self.by_dmrs = {int(d): {name: (np.asarray(m, np.float32), np.asarray(v, np.float32))
                                 for name, (m, v) in layers.items()} for d, layers in by_dmrs.items()}
        self.info = dict(info or {})

    @property
    def dmrs_symbols(self) -> tuple[int, ...]:
        """The DMRS counts with statistics."""
        return tuple(sorted(self.by_dmrs))

    @classmethod
    def estimate(cls, model, features: Mapping[int, np.ndarray], info: dict | None = None
                 ) -> "BatchNormStatistics":
        """The statistics each batch normalization's input has on each DMRS count's ``features``.

        One forward pass per DMRS count over all its slots in training mode
        (every batch normalization normalizes with the statistics of those
        slots, as in training, and records them: the mean and the
        Bessel-corrected variance), on a copy of ``model``: the model itself
        is not changed.

        Parameters
        ----------
        model : tf_keras.Model
            A DeepRx built by `build_deeprx` (it carries its config).
        features : mapping
            DMRS count -> ``[num_slots, num_ofdm_symbols, num_subcarriers,
            num_input_channels]`` (`statistics_features`).
        """
        config = config_of(model)
        if config is None:
            raise InputError("batch-norm statistics are estimated for a DeepRx built by build_deeprx")
        copy = build_deeprx(config, *model.input_shape[1:3])
        copy.set_weights(model.get_weights())
        layers = batch_norm_layers(copy)
        for layer in layers:
            layer.momentum = 0.0  # the moving statistics become those of the one batch
        by_dmrs = {}
        for dmrs, slots in features.items():
            copy(tf.convert_to_tensor(slots), training=True)
            by_dmrs[int(dmrs)] = {layer.name: (layer.moving_mean.numpy(), layer.moving_variance.numpy())
                                  for layer in layers}
        num_slots = {int(d): int(len(f)) for d, f in features.items()}
        return cls(by_dmrs, {"slots_per_dmrs_count": num_slots, **(info or {})})

    def assign(self, model, num_dmrs_symbols: int) -> None:
        """Set the model's moving statistics to those of ``num_dmrs_symbols``.

        Raises
        ------
        ValueError
            If there are none for that DMRS count, or they do not fit the
            model's batch normalizations.
        """
        if num_dmrs_symbols not in self.by_dmrs:
            raise InputError(f"no batch-norm statistics for {num_dmrs_symbols} DMRS symbol(s) "
                             f"(there are for {' and '.join(map(str, self.dmrs_symbols))})")
        self.check_fits(model)
        for layer in batch_norm_layers(model):
            mean, variance = self.by_dmrs[num_dmrs_symbols][layer.name]
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance)

    def model_for(self, model, num_dmrs_symbols: int | None, into=None):
        """A model with ``model``'s weights and the statistics of ``num_dmrs_symbols``.

        ``into``: a model of the same architecture to copy them into (a
        validation reuses one); by default a new one. ``model`` is not changed.
        ``num_dmrs_symbols=None``: a `ModelPerDmrsCount` that normalizes each
        slot with the statistics of its own DMRS count, for batches that mix
        them (``into`` is then not used).
        """
        if num_dmrs_symbols is None:
            return ModelPerDmrsCount({dmrs: self.model_for(model, dmrs) for dmrs in self.dmrs_symbols})
        if into is None:
            into = build_deeprx(config_of(model), *model.input_shape[1:3])
        into.set_weights(model.get_weights())
        self.assign(into, num_dmrs_symbols)
        return into

    def check_fits(self, model) -> None:
        """Raise `ValueError` unless every DMRS count has statistics for exactly the model's batch
        normalizations, of their widths."""
        widths = {layer.name: tuple(layer.moving_mean.shape) for layer in batch_norm_layers(model)}
        for dmrs, stats in self.by_dmrs.items():
            saved = {name: mean.shape for name, (mean, _) in stats.items()}
            if saved != widths:
                raise InputError(f"the batch-norm statistics for {dmrs} DMRS symbol(s) do not fit the model: "
                                 f"{len(saved)} layers saved for its {len(widths)} batch normalizations, "
                                 "or other names or widths")

    def save(self, path: str | Path) -> None:
        """Write them to an HDF5 file: group ``dmrs<N>``, then ``<layer name>/moving_mean`` and
        ``moving_variance``."""
        with h5py.File(path, "w") as f:
            for dmrs, layers in self.by_dmrs.items():
                group = f.create_group(f"dmrs{dmrs}")
                for name, (mean, variance) in layers.items():
                    group.create_dataset(f"{name}/moving_mean", data=mean)
                    group.create_dataset(f"{name}/moving_variance", data=variance)

    @classmethod
    def load(cls, path: str | Path, info: dict | None = None) -> "BatchNormStatistics":
        """Read a file `save` wrote.

        Raises
        ------
        ValueError
            If the file is not such a file.
        """
        try:
            with h5py.File(path, "r") as f:
                by_dmrs = {}
                for key, group in f.items():
                    if not key.startswith("dmrs") or not isinstance(group, h5py.Group):
                        raise ValueError(f"unexpected entry {key!r}")
                    layers = {}
                    group.visititems(lambda name, item, layers=layers: _read_layer(name, item, layers))
                    by_dmrs[int(key[len("dmrs"):])] = layers
        except (OSError, ValueError, KeyError) as err:
            raise InputError(f"batch-norm statistics {path} are corrupt: {err}") from None
        return cls(by_dmrs, info)


class ModelPerDmrsCount(keras.Model):
    r"""A DeepRx for slots of several DMRS counts: each slot is received by the model with its count's
    batch-norm statistics.

    A slot's DMRS count is the number of OFDM symbols whose DMRS channels
    (`DeepRxConfig.pilot_channels`) are not all 0. A batch of one DMRS
    count (as every training batch is) runs one model; a mixed batch runs
    each and takes every slot's output from its own. For inference only:
    a frozen KD teacher, a validation of pooled slots. It is not trainable
    (its models are copies of one set of weights, which training would
    part) and always normalizes with the statistics, whatever ``training``
    says. `BatchNormStatistics.model_for` and
    `deeprx_tf.checkpoint.Checkpoint.model_for` with ``None`` build it.

    Parameters
    ----------
    models : mapping
        DMRS count -> a DeepRx built by `build_deeprx` with that count's
        statistics; all of one architecture.

    Input
    -----
    features : [batch, num_ofdm_symbols, num_subcarriers, num_input_channels], tf.float32

    Output
    ------
    logits : [batch, num_ofdm_symbols, num_subcarriers, num_layers * num_bits_per_symbol], tf.float32
        Raises `tf.errors.InvalidArgumentError` for a slot whose DMRS count has no model.
    """

    def __init__(self, models: Mapping[int, keras.Model], **kwargs):
        super().__init__(**kwargs)
        if not models:
            raise InputError("a model per DMRS count needs at least one DMRS count")
        self.dmrs_symbols = tuple(sorted(int(d) for d in models))
        self.per_dmrs = [models[d] for d in self.dmrs_symbols]
        configs = {config_of(m) for m in self.per_dmrs}
        if len(configs) != 1 or None in configs:
            raise InputError("the models per DMRS count must be DeepRx models of one architecture")
        self.config = configs.pop()
        self.trainable = False

    def dmrs_count_of(self, features):
        """Each slot's DMRS count: ``[batch, S, F, C]`` features -> ``[batch]``, tf.int32."""
        pilots = features[..., self.config.pilot_channels]
        # [batch, S, F, 2 * num_layers] -> [batch, S] -> [batch]
        return tf.reduce_sum(tf.cast(tf.reduce_any(tf.not_equal(pilots, 0.0), axis=[2, 3]), tf.int32), axis=1)

    def call(self, features, training=None):
        features = tf.convert_to_tensor(features, tf.float32)
        counts = self.dmrs_count_of(features)
        # [batch, num_counts]: which model receives each slot
        matches = tf.equal(counts[:, None], tf.constant(self.dmrs_symbols, tf.int32)[None])
        tf.debugging.assert_equal(tf.reduce_any(matches, axis=1), True, message=(
            f"a slot's DMRS count has no batch-norm statistics (there are for "
            f"{' and '.join(map(str, self.dmrs_symbols))} DMRS symbol(s))"))
        if len(self.per_dmrs) == 1:
            return self.per_dmrs[0](features, training=False)
        index = tf.argmax(tf.cast(matches, tf.int32), axis=1, output_type=tf.int32)

        def each():
            # [num_counts, batch, S, F, outputs] -> every slot's own
            outputs = tf.stack([m(features, training=False) for m in self.per_dmrs])
            return tf.gather_nd(outputs, tf.stack([index, tf.range(tf.shape(index)[0])], axis=1))

        uniform = tf.logical_and(tf.size(index) > 0, tf.reduce_all(tf.equal(index, index[:1])))
        branches = [lambda m=m: m(features, training=False) for m in self.per_dmrs]
        return tf.cond(uniform, lambda: tf.switch_case(index[0], branches), each)


def _read_layer(name: str, item, layers: dict) -> None:
    """`h5py.Group.visititems` visitor: a group holding ``moving_mean`` and ``moving_variance`` is a layer."""
    if isinstance(item, h5py.Group) and "moving_mean" in item:
        layers[name] = (item["moving_mean"][()], item["moving_variance"][()])
