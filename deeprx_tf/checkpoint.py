"""DeepRx checkpoints: ``model.json`` (architecture, scenario, model card) + ``weights.h5``.

No pickle, no code: a checkpoint is a JSON description and HDF5 weights. A
quantization-aware-trained checkpoint also has ``qat_weights.h5``: the QAT
model's state (`deeprx_tf.qat`), learned int8 ranges included; one with
batch-norm statistics per DMRS count has ``batch_norm_statistics.h5``
(`deeprx_tf.batch_norm`), and ``Checkpoint.model_for`` serves them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NamedTuple

import numpy as np

from deeprx_tf.batch_norm import BatchNormStatistics, statistics_features
from deeprx_tf.link_fit import LinkShape, check_model_fits
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.folders import BATCH_NORM_STATISTICS, MODEL_JSON, QAT_WEIGHTS, WEIGHTS
from deeprx_tf.shipped import resolve_checkpoint, shipped_models
from deeprx_tf.model import build_deeprx
from deeprx_tf.train_config import BATCH_NORM_SEED, BATCH_NORM_SLOTS, TRAIN_CHANNEL_MODELS
from link_sim import LinkConfig
from link_sim.errors import InputError, MissingInputError
from link_sim.results import read_json, write_atomic, write_json

FORMAT = "deeprx-tf/1"


@dataclasses.dataclass(frozen=True)
class TrainingDomain:
    """The slots a checkpoint's training drew: where it is known to work.

    A fine-tuned checkpoint (``deeprx train --init-from``) records the union
    of its own stage's domain and its starting checkpoint's (the card's
    ``training_domain``); otherwise the domain is its one training stage's.

    Parameters
    ----------
    channel_models : tuple of str
        Channel models of the training data.
    dmrs_symbols : tuple of int
        DMRS symbol counts of the training data.
    mcs_indices : tuple of int
        MCS indices (256-QAM table) of the training links.
    sinr_db : (float, float)
        SINR range [dB] of the training data (the hull, over stages).
    """

    channel_models: tuple[str, ...]
    dmrs_symbols: tuple[int, ...]
    mcs_indices: tuple[int, ...]
    sinr_db: tuple[float, float]

    @classmethod
    def from_card(cls, card: dict, link_config: LinkConfig) -> "TrainingDomain | None":
        """The domain a model card and its training scenario describe; `None` if the card
        does not say how the model was trained (a hand-made checkpoint)."""
        if not isinstance(card, dict):
            return None
        recorded = card.get("training_domain")
        if isinstance(recorded, dict):
            try:
                return cls(tuple(recorded["channel_models"]), tuple(int(d) for d in recorded["dmrs_symbols"]),
                           tuple(int(m) for m in recorded["mcs_indices"]),
                           tuple(float(s) for s in recorded["sinr_db"]))
            except (KeyError, TypeError, ValueError):
                return None
        train = card.get("train")
        if not isinstance(train, dict) or not {"channel_models", "dmrs_symbols"} <= set(train):
            return None
        return cls(tuple(train["channel_models"]), tuple(int(d) for d in train["dmrs_symbols"]),
                   (link_config.mcs_index,), tuple(link_config.sinr_db))

    def union(self, other: "TrainingDomain | None") -> "TrainingDomain":
        """What two training stages saw together (SINR: the hull of both ranges)."""
        if other is None:
            return self
        return TrainingDomain(tuple(dict.fromkeys(self.channel_models + other.channel_models)),
                              tuple(sorted(set(self.dmrs_symbols) | set(other.dmrs_symbols))),
                              tuple(sorted(set(self.mcs_indices) | set(other.mcs_indices))),
                              (min(self.sinr_db[0], other.sinr_db[0]), max(self.sinr_db[1], other.sinr_db[1])))

    def to_dict(self) -> dict:
        return {"channel_models": list(self.channel_models), "dmrs_symbols": list(self.dmrs_symbols),
                "mcs_indices": list(self.mcs_indices), "sinr_db": list(self.sinr_db)}

    def unfamiliar(self, channel_model: str | None = None, num_dmrs_symbols: int | None = None,
                   mcs_index: int | None = None, sinr_db=()) -> list[str]:
        """One sentence for each given property of a link the model never trained on.

        Parameters
        ----------
        channel_model, num_dmrs_symbols, mcs_index : optional
            The link's; `None` is not checked.
        sinr_db : iterable of float
            SINR points [dB] the model will be used at.
        """
        notes = []
        if channel_model is not None and channel_model not in self.channel_models:
            notes.append(f"channel model {channel_model} (trained on {', '.join(self.channel_models)})")
        if num_dmrs_symbols is not None and num_dmrs_symbols not in self.dmrs_symbols:
            trained = " and ".join(str(d) for d in self.dmrs_symbols)
            notes.append(f"{num_dmrs_symbols} DMRS symbol(s) (trained on {trained})")
        if mcs_index is not None and mcs_index not in self.mcs_indices:
            trained = ", ".join(str(m) for m in self.mcs_indices)
            notes.append(f"MCS {mcs_index} (trained at MCS {trained})")
        lo, hi = self.sinr_db
        outside = [float(s) for s in sinr_db if not lo <= float(s) <= hi]
        if outside:
            points = ", ".join(f"{s:g}" for s in outside)
            notes.append(f"SINR {points} dB (trained at {lo:g} to {hi:g} dB)")
        return notes


class Checkpoint(NamedTuple):
    """A loaded checkpoint."""

    model: object  # tf_keras.Model
    config: DeepRxConfig
    link_config: LinkConfig
    card: dict
    qat_model: object = None  # the quantization-aware-trained model, if the checkpoint has one
    batch_norm_statistics: BatchNormStatistics | None = None  # per DMRS count, if the checkpoint has them

    @property
    def training_domain(self) -> TrainingDomain | None:
        """Where the model was trained (`TrainingDomain`), if its card says."""
        return TrainingDomain.from_card(self.card, self.link_config)

    def model_for(self, num_dmrs_symbols: int | None):
        """The float model as it receives links with ``num_dmrs_symbols`` DMRS symbols.

        With batch-norm statistics for that DMRS count, a new model with the
        checkpoint's weights and those statistics (``model`` is not
        changed); otherwise ``model`` itself, with the moving statistics
        saved in its weights. ``None``: slots of every DMRS count the
        statistics know, each received with its own count's statistics
        (`deeprx_tf.batch_norm.ModelPerDmrsCount`: a KD teacher's batches);
        ``model`` itself if there are none.
        """
        stats = self.batch_norm_statistics
        if stats is None or (num_dmrs_symbols is not None and num_dmrs_symbols not in stats.dmrs_symbols):
            return self.model
        return stats.model_for(self.model, num_dmrs_symbols)

    def with_batch_norm_statistics(self, num_slots: int = BATCH_NORM_SLOTS, seed: int = BATCH_NORM_SEED,
                                   moving: bool = False) -> "Checkpoint":
        """This checkpoint with batch-norm statistics per DMRS count estimated anew
        (`BatchNormStatistics.estimate`) from ``num_slots`` slots of each DMRS count it trained on.

        The slots are its training scenario's (``link_config``; the channel
        models of its training domain, else `TRAIN_CHANNEL_MODELS`), data seed
        ``seed``; its weights are unchanged. With ``moving``, the model's own
        moving statistics (what ``model`` normalizes with where no DMRS
        count is given: a KD teacher, a QAT fine-tune's start) become those
        of all these slots together, as a training run's approximate. Save
        it with `save_checkpoint`.
        """
        domain = self.training_domain
        channel_models = domain.channel_models if domain is not None else TRAIN_CHANNEL_MODELS
        dmrs_symbols = domain.dmrs_symbols if domain is not None else (1, 2)
        features = statistics_features(self.link_config, dmrs_symbols, num_slots, seed=seed,
                                       channel_models=channel_models, model_config=self.config)
        stats = BatchNormStatistics.estimate(self.model, features,
                                             info={"channel_models": list(channel_models), "seed": seed})
        model = self.model
        if moving:
            pooled = BatchNormStatistics.estimate(model, {0: np.concatenate(list(features.values()))})
            model = pooled.model_for(model, 0)  # 0: every DMRS count
        return self._replace(model=model, batch_norm_statistics=stats)


def save_checkpoint(out_dir: str | Path, model, config: DeepRxConfig, link_config: LinkConfig,
                    card: dict | None = None, qat_model=None,
                    batch_norm_statistics: BatchNormStatistics | None = None) -> Path:
    """Write ``weights.h5`` (and ``qat_weights.h5`` for a QAT model, ``batch_norm_statistics.h5``
    for statistics per DMRS count), then ``model.json``, into ``out_dir`` (atomically each).
    ``model`` holds the float weights; the card records how the statistics were estimated."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / WEIGHTS, lambda tmp: model.save_weights(tmp, save_format="h5"))
    # a stale file would not match weights.h5
    if qat_model is not None:
        write_atomic(out / QAT_WEIGHTS, lambda tmp: qat_model.save_weights(tmp, save_format="h5"))
    else:
        (out / QAT_WEIGHTS).unlink(missing_ok=True)
    if batch_norm_statistics is not None:
        write_atomic(out / BATCH_NORM_STATISTICS, batch_norm_statistics.save)
    else:
        (out / BATCH_NORM_STATISTICS).unlink(missing_ok=True)
    card = {key: value for key, value in (card or {}).items() if key != "batch_norm_statistics"}
    if batch_norm_statistics is not None:
        card["batch_norm_statistics"] = {"dmrs_symbols": list(batch_norm_statistics.dmrs_symbols),
                                         **batch_norm_statistics.info}
    write_json(out / MODEL_JSON, {"format": FORMAT, "deeprx": config.to_dict(),
                                  "link": link_config.to_dict(), "card": card})
    return out


def _checkpoint_files(path: str | Path) -> tuple[Path, Path]:
    """``(model.json, weights.h5)`` of a checkpoint folder (or of its ``model.json``), or of the
    shipped model of that name (`deeprx_tf.shipped.resolve_checkpoint`)."""
    path = resolve_checkpoint(path)
    folder = path.parent if path.name == MODEL_JSON else path
    meta_path, weights_path = folder / MODEL_JSON, folder / WEIGHTS
    for p in (meta_path, weights_path):
        if not p.is_file():
            raise MissingInputError(f"checkpoint file {p} does not exist (a checkpoint is a folder "
                                    f"with {MODEL_JSON} and {WEIGHTS}, or the name of a shipped model: "
                                    f"{', '.join(shipped_models())})")
    return meta_path, weights_path


def _read_meta(meta_path: Path) -> tuple[dict, DeepRxConfig, LinkConfig]:
    meta = read_json(meta_path, "checkpoint")
    try:
        if meta.get("format") != FORMAT:
            raise InputError(f"format {meta.get('format')!r} is not {FORMAT!r}")
        return meta, DeepRxConfig.from_dict(meta["deeprx"]), LinkConfig.from_dict(meta["link"])
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        raise InputError(f"checkpoint {meta_path} is malformed: {err}") from None


def read_checkpoint_config(path: str | Path) -> DeepRxConfig:
    """The architecture of a checkpoint, without building the model."""
    return _read_meta(_checkpoint_files(path)[0])[1]


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load a checkpoint folder (or its ``model.json``), or a shipped model by name (``"default"``).

    Raises
    ------
    FileNotFoundError
        If the folder, ``model.json`` or ``weights.h5`` is missing.
    ValueError
        If a file is malformed or the weights do not fit the architecture.
    """
    meta_path, weights_path = _checkpoint_files(path)
    meta, config, link_config = _read_meta(meta_path)
    model = _load_weights(build_deeprx(config), weights_path, "weights")
    qat_model = None
    qat_path = weights_path.with_name(QAT_WEIGHTS)
    if qat_path.is_file():
        from deeprx_tf.qat import quantize_for_training

        qat_model = _load_weights(quantize_for_training(model), qat_path, "QAT weights",
                                  hint=f"; a {QAT_WEIGHTS} from before deeprx-tf QAT-trained the "
                                       "batch-norm-folded graph does not load: delete it to use the "
                                       f"float weights in {WEIGHTS}")
    card = meta.get("card", {})
    stats_path = weights_path.with_name(BATCH_NORM_STATISTICS)
    stats = None
    if stats_path.is_file():
        stats = BatchNormStatistics.load(stats_path, info=card.get("batch_norm_statistics"))
        stats.check_fits(model)  # refused now, not when a link first asks for them
    return Checkpoint(model, config, link_config, card, qat_model, stats)


def average_checkpoints(paths) -> Checkpoint:
    """The checkpoint whose float weights are the mean of several checkpoints' (weight averaging).

    Averaging the weights of a run's last epochs (Izmailov et al., 2018,
    "Averaging Weights Leads to Wider Optima and Better Generalization")
    lands nearer the middle of the region the decaying learning rate
    circles in. The batch normalizations' moving statistics are averaged
    too, which is not what the averaged weights produce: estimate them
    anew (`Checkpoint.with_batch_norm_statistics` with ``moving``) before use.

    Parameters
    ----------
    paths : sequence of str or Path
        At least two checkpoints of one architecture and scenario (folders
        or shipped names).

    Returns
    -------
    Checkpoint
        The last checkpoint's scenario and card (complete), the card's
        ``averaged_from`` naming the checkpoints and its training domain
        their union; no QAT model, no batch-norm statistics.

    Raises
    ------
    ValueError
        If fewer than two are given, or their architectures or scenarios differ.
    """
    if len(paths) < 2:
        raise InputError(f"averaging needs at least two checkpoints, got {len(paths)}")
    checkpoints = [load_checkpoint(path) for path in paths]
    last = checkpoints[-1]
    for path, checkpoint in zip(paths, checkpoints):
        if checkpoint.config != last.config or checkpoint.link_config != last.link_config:
            raise InputError(f"checkpoint {path} has another architecture or scenario than {paths[-1]}: "
                             "only checkpoints of one run (or of runs of one architecture and scenario) average")
    weights = [np.mean(arrays, axis=0) for arrays in zip(*(c.model.get_weights() for c in checkpoints))]
    model = build_deeprx(last.config)
    model.set_weights(weights)
    domain = None
    for trained in (checkpoint.training_domain for checkpoint in checkpoints):
        domain = trained.union(domain) if trained is not None else domain
    # what the last checkpoint measured of itself does not describe the average
    own = ("batch_norm_statistics", "best", "validation", "last_epoch_logs", "final_loss", "epochs_done")
    card = {key: value for key, value in last.card.items() if key not in own}
    # a finished checkpoint, whatever the state of the run its parts came from
    card.update(complete=True, averaged_from=[str(path) for path in paths])
    if domain is not None:
        card["training_domain"] = domain.to_dict()
    return Checkpoint(model, last.config, last.link_config, card)


def _load_weights(model, path: Path, what: str, hint: str = ""):
    try:
        model.load_weights(str(path))
    except (OSError, ValueError) as err:
        raise InputError(f"checkpoint {what} {path} are corrupt or do not fit the architecture "
                         f"in {MODEL_JSON}: {str(err).splitlines()[0]}{hint}") from None
    return model


def check_fits_scenario(config: DeepRxConfig, link_config: LinkConfig, name: str = "the checkpoint") -> None:
    """Raise `InputError` if a model of this architecture cannot receive the scenario's slots
    (`deeprx_tf.link_fit.check_model_fits`)."""
    check_model_fits(name, LinkShape.of_link_config(link_config),
                     num_outputs=config.num_outputs, num_layers=config.num_layers,
                     inputs=config.feature_options(), num_rx_ant=config.num_rx_ant,
                     num_input_channels=config.num_input_channels)
