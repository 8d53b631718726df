"""Training DeepRx with Keras ``fit``: schedule, validation, checkpoints (losses: `deeprx_tf.losses`)."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import tensorflow as tf
import tf_keras as keras

from deeprx_tf.batch_norm import BatchNormStatistics, statistics_features
from deeprx_tf.checkpoint import TrainingDomain, check_fits_scenario, load_checkpoint, save_checkpoint
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.dataset import training_dataset, validation_sets
from deeprx_tf.folders import BACKUP, BEST, EPOCHS, FolderState, read_folder
from deeprx_tf.losses import MaskedBitErrorRate, masked_bce, masked_bit_errors
from deeprx_tf.machine import cpu_description
from deeprx_tf.model import build_deeprx
from deeprx_tf.optimizers import make_optimizer
from deeprx_tf.privileged import compile_privileged_trainee, num_channel_outputs
from deeprx_tf.pruning import prunable, pruning_callbacks, sparsity
from deeprx_tf.qat import calibrate_activation_ranges, copy_float_weights, quantize_for_training
from deeprx_tf.train_config import STRATEGIES, VALIDATION_CHANNEL_MODELS, TrainConfig
from link_sim import LinkConfig
from link_sim.errors import InputError
from link_sim.metrics import geometric_mean_ber
from link_sim.results import read_json, write_json

#: File in a training folder listing each (resumed) run with its data seed and first epoch.
RUNS_FILE = "runs.json"
# training batches whose float activations set the QAT model's initial int8 ranges
QAT_CALIBRATION_BATCHES = 32


@keras.utils.register_keras_serializable("deeprx")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to ``peak`` over ``warmup_steps``, then linear decay to ``end``."""

    def __init__(self, peak: float, warmup_steps: int, total_steps: int, end: float = 0.0):
        self.peak, self.warmup_steps, self.total_steps, self.end = peak, warmup_steps, total_steps, end

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = self.peak * step / max(1, self.warmup_steps)
        frac = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        decay = self.peak + (self.end - self.peak) * tf.clip_by_value(frac, 0.0, 1.0)
        return tf.where(step < self.warmup_steps, warm, decay)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps, "end": self.end}


class TrainingDivergedError(InputError):
    """The training loss became NaN or infinite (usually: a learning rate too high)."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Abort ``fit`` at the first batch whose loss is not finite, before the epoch ends.

    Keras' ``TerminateOnNaN`` lets the epoch end, and the callbacks that save
    a checkpoint at the end of the epoch would then overwrite the last good
    weights with broken ones; raising here keeps them (and the backup a
    resumed run starts from).
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDivergedError(
                f"training diverged: the loss is {float(loss)} at step {batch + 1} of the epoch; the "
                "last epoch's checkpoint is kept: lower --lr (or raise --warmup-steps)")


def optimizer_steps(model: keras.Model) -> int:
    """The steps ``model``'s optimizer has taken (a distributed variable under a strategy)."""
    return int(keras.backend.get_value(model.optimizer.iterations))


class StopAtStep(keras.callbacks.Callback):
    """End ``fit`` once the optimizer has taken ``steps`` steps (a resumed run's included).

    ``fit`` runs whole epochs; when ``steps`` is not a multiple of the
    steps per epoch, this cuts the last one short, and its end-of-epoch
    callbacks (validation, saving) still run.
    """

    def __init__(self, steps: int):
        super().__init__()
        self.steps = steps

    def on_train_batch_end(self, batch, logs=None):
        if optimizer_steps(self.model) >= self.steps:
            self.model.stop_training = True


class ValidationGeometricMeanBER(keras.callbacks.Callback):
    """After each epoch: uncoded BER per validation SINR and its Geometric Mean BER.

    Logs ``val_gmber`` (paper eq. 3, zero BER floored at 1 / bits) and
    ``val_ber_<sinr>dB`` so that TensorBoard, checkpointing and early
    stopping can use them.

    With ``batch_norm`` (``batch_norm(model, epoch) -> BatchNormStatistics``,
    the statistics saved with the epoch's checkpoint), ``sets`` are per DMRS
    count (`deeprx_tf.dataset.validation_sets` with ``by_dmrs``), as for
    `evaluate` with statistics. ``model`` is the DeepRx validated (default:
    the model being fitted).
    """

    def __init__(self, sets: dict, batch_size: int = 32, batch_norm=None, model=None):
        super().__init__()
        self.sets = sets
        self.batch_size = batch_size
        self.batch_norm, self.validated_model = batch_norm, model
        self.history: list[dict] = []
        self._receiver = None  # the model each DMRS count's statistics are put into

    def _errors(self, model, sets: dict) -> dict[float, tuple[float, float]]:
        """SINR -> (bit errors, bits) of ``model`` on ``{SINR: (features, target)}``."""
        counts = {}
        for sinr, (features, target) in sets.items():
            errors = total = 0.0
            for start in range(0, len(features), self.batch_size):
                sl = slice(start, start + self.batch_size)
                e, n = masked_bit_errors(target[sl], model(features[sl], training=False))
                errors, total = errors + float(e), total + float(n)
            counts[sinr] = (errors, total)
        return counts

    def evaluate(self, model, statistics: BatchNormStatistics | None = None) -> dict:
        """The logs of ``model`` on the sets.

        With ``statistics``, the sets are per DMRS count (``{dmrs: {SINR:
        (features, target)}}``): each DMRS count's slots are received with
        its own statistics, as a link would be, their errors pooled per SINR,
        and ``val_gmber_dmrs<N>`` is logged too.
        """
        if statistics is None:
            parts = {None: self._errors(model, self.sets)}
        else:
            parts = {}
            for dmrs, sets in self.sets.items():
                self._receiver = statistics.model_for(model, dmrs, into=self._receiver)
                parts[dmrs] = self._errors(self._receiver, sets)
        sinrs = list(next(iter(parts.values())))
        errors = {s: sum(p[s][0] for p in parts.values()) for s in sinrs}
        bits = {s: sum(p[s][1] for p in parts.values()) for s in sinrs}
        bers = [errors[s] / bits[s] for s in sinrs]
        logs = {f"val_ber_{s:g}dB": b for s, b in zip(sinrs, bers)}
        logs["val_gmber"] = geometric_mean_ber(bers, [bits[s] for s in sinrs])
        if statistics is not None:
            for dmrs, counts in parts.items():
                logs[f"val_gmber_dmrs{dmrs}"] = geometric_mean_ber([e / n for e, n in counts.values()],
                                                                   [n for _, n in counts.values()])
        return logs

    def on_epoch_end(self, epoch, logs=None):
        model = self.validated_model or self.model
        statistics = self.batch_norm(model, epoch) if self.batch_norm is not None else None
        result = self.evaluate(model, statistics)
        self.history.append({"epoch": epoch + 1, **result})
        if logs is not None:
            logs.update(result)


class SaveCheckpointEachEpoch(keras.callbacks.Callback):
    """Write the deeprx-tf checkpoint after every epoch, so an interrupted run leaves a usable model.

    ``model`` is the DeepRx to save (default: the model being fitted); with
    ``qat_model``, its float weights are copied into ``model`` first and its
    QAT state is saved beside them. ``batch_norm(model, epoch) ->
    BatchNormStatistics`` gives the batch-norm statistics per DMRS count saved
    with it (`None`: none). ``chief`` is as in `save_deeprx`.
    """

    def __init__(self, out_dir, config, link_config, card, model=None, qat_model=None, chief=True,
                 batch_norm=None):
        super().__init__()
        self.out_dir, self.config, self.link_config, self.card = out_dir, config, link_config, card
        self.saved_model, self.qat_model, self.chief, self.batch_norm = model, qat_model, chief, batch_norm

    def on_epoch_end(self, epoch, logs=None):
        card = dict(self.card, epochs_done=epoch + 1,
                    last_epoch_logs={k: float(v) for k, v in (logs or {}).items()})
        model = self.saved_model or self.model
        save_deeprx(self.out_dir, model, self.config, self.link_config, card, self.qat_model, chief=self.chief,
                    batch_norm_statistics=self.batch_norm(model, epoch) if self.batch_norm is not None else None)


class SaveBestCheckpoint(SaveCheckpointEachEpoch):
    """Keep the epoch of lowest validation Geometric Mean BER as a checkpoint of its own, ``out_dir/best``.

    Its card's ``best`` says which epoch and what it scored; a resumed run
    starts from the best its earlier part kept. Arguments as
    `SaveCheckpointEachEpoch`'s.
    """

    monitor = "val_gmber"

    def __init__(self, out_dir, *args, **kwargs):
        super().__init__(Path(out_dir) / BEST, *args, **kwargs)
        kept = read_folder(self.out_dir).card.get("best") or {}
        self.best = float(kept.get(self.monitor, math.inf))

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not value < self.best:
            return
        self.best = float(value)
        self.card = dict(self.card, best={"epoch": epoch + 1, self.monitor: self.best})
        super().on_epoch_end(epoch, logs)


class KeepEachEpoch(SaveCheckpointEachEpoch):
    """Keep every epoch's checkpoint as a folder of its own, ``out_dir/epochs/NNN`` (``deeprx average``
    averages a run's last ones). Arguments as `SaveCheckpointEachEpoch`'s."""

    def __init__(self, out_dir, *args, **kwargs):
        super().__init__(Path(out_dir) / EPOCHS, *args, **kwargs)
        self.epochs_dir = self.out_dir

    def on_epoch_end(self, epoch, logs=None):
        self.out_dir = self.epochs_dir / f"{epoch + 1:03d}"
        super().on_epoch_end(epoch, logs)


def save_deeprx(out_dir, model, config, link_config, card, qat_model=None, chief=True,
                batch_norm_statistics=None):
    """`save_checkpoint`, first copying a QAT model's float weights into ``model``.

    Under a multi-worker strategy reading the weights is a collective
    operation, so every worker saves: the chief into ``out_dir``, the
    others (``chief=False``) into a temporary folder that is then deleted.
    """
    if qat_model is not None:
        copy_float_weights(qat_model, model)
    save = functools.partial(save_checkpoint, model=model, config=config, link_config=link_config, card=card,
                             qat_model=qat_model, batch_norm_statistics=batch_norm_statistics)
    if chief:
        return save(out_dir)
    with tempfile.TemporaryDirectory() as scratch:
        return save(scratch)


def make_strategy(name: str | None) -> tf.distribute.Strategy:
    """``None``/"default" (one device), ``"mirrored"`` (all local GPUs, or all logical CPUs
    where there is no GPU) or ``"multiworker"`` (TF_CONFIG describes the cluster)."""
    if name in (None, "default"):
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # all GPUs, else all (logical) CPUs: MirroredStrategy() alone would use one CPU
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        try:
            cluster = json.loads(os.environ.get("TF_CONFIG") or "{}")
            cluster["cluster"], cluster["task"]["type"], cluster["task"]["index"]  # noqa: B018
        except (ValueError, KeyError, TypeError):
            raise InputError("--strategy multiworker needs TF_CONFIG: JSON with \"cluster\" and "
                             "\"task\" {\"type\", \"index\"} (see tf.distribute)") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise InputError(f"unknown strategy {name!r}: use {', '.join(STRATEGIES)}")


def run_differences(folder: FolderState, model_config: DeepRxConfig, link_config: LinkConfig,
                    train_config: TrainConfig, init_from) -> list[str]:
    """What differs between the run recorded in a checkpoint folder and these options.

    Returns
    -------
    list of str
        ``"<part> <field>"`` per difference (``"training steps"``,
        ``"scenario num_prb"``, ...; ``"init_from"``), empty if none.
    """
    saved, card = folder.meta or {}, folder.card
    now = {"architecture": model_config.to_dict(), "scenario": link_config.to_dict(),
           "training": train_config.to_dict(), "init_from": str(init_from) if init_from else None}
    trained = card.get("train")
    then = {"architecture": saved.get("deeprx"), "scenario": saved.get("link"),
            # a card written before a training option existed ran with its default
            "training": {**TrainConfig.defaults(), **trained} if isinstance(trained, dict) else None,
            "init_from": card.get("init_from")}
    differ = []
    for part, values in now.items():
        if not isinstance(values, dict):
            if values != then[part]:
                differ.append(part)
            continue
        old = then[part] if isinstance(then[part], dict) else {}
        differ += [f"{part} {key}" for key in values if old.get(key) != values[key]]
    return differ


def _resume_or_start_anew(out: Path, model_config: DeepRxConfig, link_config: LinkConfig,
                          train_config: TrainConfig, init_from) -> None:
    """Refuse to resume an interrupted run in ``out`` with other options than it started with (its
    checkpoint would describe the second run only, though its first epochs ran under the first);
    a run that starts anew drops the best checkpoint an earlier run kept there."""
    folder = read_folder(out)
    if not folder.resumable:  # nothing to resume (a finished run: training again starts anew)
        shutil.rmtree(out / BEST, ignore_errors=True)
        shutil.rmtree(out / EPOCHS, ignore_errors=True)
        return
    differ = run_differences(folder, model_config, link_config, train_config, init_from)
    if differ:
        raise InputError(f"{out} holds an interrupted run with other options ({', '.join(differ)}): "
                         "resume it with its own options, or start anew (deeprx: --overwrite)")


def _backup_epoch(out: Path) -> int:
    """The epoch a run in ``out`` resumes at: one past the last epoch Keras' ``BackupAndRestore``
    saved in the chief's backup, 0 without one."""
    latest = tf.train.latest_checkpoint(str(out / BACKUP / "chief"))
    if latest is None:
        return 0
    return int(tf.train.load_variable(latest, "ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE")) + 1


def _start_run(out: Path, train_config: TrainConfig, dist: tf.distribute.Strategy,
               command: str | None) -> tuple[list[dict], int, bool]:
    """Record this run (fresh or resumed) in ``out/runs.json``.

    A resumed run trains on the batches an uninterrupted one would have
    seen from the epoch it resumes at: each epoch's data has a seed of its
    own (`deeprx_tf.dataset.training_dataset`), so every run of a training
    has the data seed ``seed`` and differs by its ``first_epoch``.
    Each run names the CPU it ran on (`deeprx_tf.machine.cpu_description`):
    a run resumed on another machine trains at another pace.
    Only the chief writes into ``out`` (a multi-worker cluster shares it),
    and only once every worker has read ``runs.json``: an all-reduce is the
    barrier.

    Returns
    -------
    runs : list of dict
        Every run of this training, this one last.
    first_epoch : int
        The epoch this run starts at.
    chief : bool
        Whether this worker writes the outputs.
    """
    runs = read_json(out / RUNS_FILE, "training runs") if (out / RUNS_FILE).is_file() else []
    if not (out / BACKUP).is_dir():
        runs = []
    first_epoch = _backup_epoch(out)  # where Keras resumes
    runs.append({"started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                 "data_seed": train_config.seed, "first_epoch": first_epoch, "command": command,
                 "machine": cpu_description()})
    chief = dist.extended.should_checkpoint
    dist.reduce(tf.distribute.ReduceOp.SUM, dist.run(lambda: tf.constant(1.0)), axis=None)
    if chief:
        write_json(out / RUNS_FILE, runs)
    return runs, first_epoch, chief


@dataclasses.dataclass
class _Trainee:
    """What a run trains: the DeepRx ``model`` (validated and saved), its QAT twin if any,
    the pruning schedule if any, and the compiled model ``fit`` runs."""

    model: keras.Model
    qat_model: keras.Model | None
    pruning: object
    fitted: keras.Model


def initial_weights(init, train_config: TrainConfig) -> list:
    """The weights a run started from checkpoint ``init`` begins with (`tf_keras.Model.get_weights`).

    A run on one DMRS count starts with that count's batch-norm statistics
    where ``init`` has them (`Checkpoint.model_for`): a QAT run folds its
    batch normalizations with the statistics it starts from, and for the
    pooled moving statistics of an averaged checkpoint those can fit one
    count badly. A run on several counts starts from ``init.model`` as saved.
    """
    dmrs_symbols = tuple(train_config.dmrs_symbols)
    model = init.model_for(dmrs_symbols[0]) if len(dmrs_symbols) == 1 else init.model
    return model.get_weights()


def _build_trainee(model_config: DeepRxConfig, link_config: LinkConfig, train_config: TrainConfig,
                   init, data, compile_trainee) -> _Trainee:
    """The model, optimizer and compiled trainee of a run (inside the strategy's scope)."""
    model = build_deeprx(model_config)
    if init is not None:
        model.set_weights(initial_weights(init, train_config))
    schedule = WarmupLinearDecay(train_config.learning_rate, train_config.warmup_steps, train_config.steps)
    optimizer = make_optimizer(train_config.optimizer, schedule, train_config.weight_decay)
    pruning = train_config.pruning_schedule()
    # pruning wrappers share model's layers: model keeps the pruned weights;
    # the QAT model has its own layers, copied back into model when saved
    qat_model = quantize_for_training(model) if train_config.qat else None
    if qat_model is not None:
        # ranges from the float model, not tfmot's [-6, 6] (a resumed run restores its own)
        calibrate_activation_ranges(qat_model, model, data.take(QAT_CALIBRATION_BATCHES))
        fitted = qat_model
    else:
        fitted = prunable(model, pruning) if pruning else model
    if train_config.privileged_signals():
        compile_trainee = functools.partial(
            compile_privileged_trainee, num_channel_outputs=num_channel_outputs(link_config),
            channel_loss_weight=train_config.channel_loss_weight,
            genie_loss_weight=train_config.genie_loss_weight, decay_steps=train_config.steps)
    if compile_trainee is None:
        fitted.compile(optimizer=optimizer, loss=masked_bce, metrics=[MaskedBitErrorRate()],
                       jit_compile=train_config.xla)
    else:
        fitted = compile_trainee(fitted, optimizer, train_config.xla)
    return _Trainee(model, qat_model, pruning, fitted)


def _callbacks(out: Path, trainee: _Trainee, val: ValidationGeometricMeanBER, model_config: DeepRxConfig,
               link_config: LinkConfig, partial_card: dict, chief: bool, steps: int, batch_norm,
               keep_epochs: bool = False) -> list:
    """The callbacks of a run, in the order they must run at each epoch's end.

    Pruning first: it re-masks the weights before validation and saving.
    Validation and saving read the weights (collective ops): every worker
    runs them, in the same order; BackupAndRestore gives the workers other
    than the chief temporary folders.
    """
    saving = dict(model=trainee.model, qat_model=trainee.qat_model, chief=chief, batch_norm=batch_norm)
    callbacks = [StopOnNonFiniteLoss(), StopAtStep(steps), *(pruning_callbacks() if trainee.pruning else []), val,
                 SaveCheckpointEachEpoch(out, model_config, link_config, partial_card, **saving),
                 SaveBestCheckpoint(out, model_config, link_config, partial_card, **saving),
                 *([KeepEachEpoch(out, model_config, link_config, partial_card, **saving)] if keep_epochs else []),
                 keras.callbacks.BackupAndRestore(str(out / BACKUP))]
    if chief:
        callbacks += [keras.callbacks.TensorBoard(str(out / "logs"), update_freq="epoch"),
                      keras.callbacks.CSVLogger(str(out / "history.csv"), append=True)]
    return callbacks


def train_deeprx(model_config: DeepRxConfig, link_config: LinkConfig, train_config: TrainConfig,
                 out_dir: str | Path, strategy: str | None = None, command: str | None = None,
                 init_from: str | Path | None = None, compile_trainee=None,
                 card_extra: dict | None = None, verbose: int = 2,
                 on_start: Callable[[], None] | None = None, keep_epochs: bool = False) -> dict:
    """Train a DeepRx on the link and save it as a checkpoint in ``out_dir``.

    Interrupted runs resume from the last finished epoch when called again
    with the same ``out_dir`` (Keras ``BackupAndRestore`` in
    ``out_dir/backup``). TensorBoard logs go to ``out_dir/logs``. Under a
    multi-worker strategy every worker trains and only the chief writes
    the checkpoint, model card, history and logs.
    ``init_from`` (a checkpoint folder of the same architecture) starts from
    its weights instead of a random initialisation: fine-tuning.

    ``compile_trainee(model, optimizer, jit_compile) -> tf_keras.Model``, called
    inside the strategy's scope, returns the compiled model that ``fit``
    trains in place of ``model`` alone (`distill` passes a `Distiller`
    around it); the DeepRx ``model`` is what is validated and saved.
    ``card_extra`` goes into the model card. ``on_start()`` is called once
    every check has passed, before the data and the model are made (the
    command line announces the run there). ``keep_epochs`` also keeps each
    epoch's checkpoint in ``out_dir/epochs/NNN`` (`KeepEachEpoch`).

    Returns
    -------
    dict
        The model card written to ``out_dir/model.json``.
    """
    out = Path(out_dir)
    if train_config.privileged_signals() and compile_trainee is not None:
        raise InputError("the privileged training signals (channel and genie losses) train a DeepRx "
                         "alone, not a student beside its teacher")
    check_fits_scenario(model_config, link_config)
    link_config.check_batch_size(train_config.batch_size)
    # the checkpoint to start from is read (and refused if corrupt) before any data is made
    init = load_checkpoint(init_from) if init_from is not None else None
    if init is not None and init.config != model_config:
        raise InputError(f"the init_from checkpoint {init_from} has another architecture than the model "
                         "to train")
    _resume_or_start_anew(out, model_config, link_config, train_config, init_from)
    dist = make_strategy(strategy)
    if on_start is not None:
        on_start()
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(train_config.seed)
    runs, first_epoch, chief = _start_run(out, train_config, dist, command)
    data = training_dataset(link_config, train_config.batch_size, seed=train_config.seed,
                            steps_per_epoch=train_config.steps_per_epoch, first_epoch=first_epoch,
                            channel_models=train_config.channel_models,
                            dmrs_symbols=train_config.dmrs_symbols, model_config=model_config,
                            privileged=train_config.privileged_signals(),
                            sinr_floor_fraction=train_config.sinr_floor_fraction,
                            sinr_floor_db=train_config.sinr_floor_db)
    # with statistics per DMRS count, each DMRS count's validation slots are received with its own
    validation = validation_sets(link_config, train_config.validation_sinr_db, train_config.validation_slots,
                                 seed=train_config.seed + 1, dmrs_symbols=train_config.dmrs_symbols,
                                 model_config=model_config, by_dmrs=train_config.saves_batch_norm_statistics())
    domain = TrainingDomain(tuple(train_config.channel_models), tuple(sorted(train_config.dmrs_symbols)),
                            (link_config.mcs_index,), tuple(link_config.sinr_db))
    domain = domain.union(init.training_domain if init is not None else None)  # a fine-tuned model saw both
    with dist.scope():
        trainee = _build_trainee(model_config, link_config, train_config, init, data, compile_trainee)
    batch_norm = _batch_norm_estimator(link_config, train_config, model_config)
    val = ValidationGeometricMeanBER(validation, batch_norm=batch_norm,
                                     model=trainee.model if batch_norm is not None else None)
    card = {"command": command, "train": train_config.to_dict(), "complete": False,
            "init_from": str(init_from) if init_from is not None else None,
            "training_domain": domain.to_dict(), **(card_extra or {})}
    start = datetime.datetime.now(datetime.timezone.utc)
    history = trainee.fitted.fit(data, epochs=math.ceil(train_config.steps / train_config.steps_per_epoch),
                                 steps_per_epoch=train_config.steps_per_epoch, verbose=verbose,
                                 callbacks=_callbacks(out, trainee, val, model_config, link_config, card, chief,
                                                      train_config.steps, batch_norm, keep_epochs))
    elapsed = (datetime.datetime.now(datetime.timezone.utc) - start).total_seconds()
    model, qat_model, pruning = trainee.model, trainee.qat_model, trainee.pruning
    final_statistics = batch_norm(model) if batch_norm is not None else None
    card = {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **card, "complete": True, "runs": runs,
        "strategy": strategy or "default", "num_replicas": dist.num_replicas_in_sync,
        "train_seconds_this_run": elapsed,
        "final_loss": float(history.history["loss"][-1]) if history.history.get("loss") else None,
        "steps_done": optimizer_steps(trainee.fitted),
        # a QAT model is validated with its fake quantization
        "validation": {"channel_models": list(VALIDATION_CHANNEL_MODELS),
                       "sinr_db": list(train_config.validation_sinr_db),
                       **val.evaluate(qat_model if qat_model is not None else model, final_statistics)},
        "pruning": ({**pruning.to_dict(), "sparsity_reached": sparsity(model)["total"]}
                    if pruning else None),
        "qat": train_config.qat,
        "best": read_folder(out / BEST).card.get("best"),  # the epoch kept in out/best
        "flops_per_slot": model_config.flops_per_slot(link_config.num_subcarriers),
        "size_vs_paper": model_config.size_vs_paper(),
    }
    save_deeprx(out, model, model_config, link_config, card, qat_model, chief=chief,
                batch_norm_statistics=final_statistics)
    return card


class _StatisticsPerEpoch:
    """``(model, epoch=None) -> BatchNormStatistics``: ``estimate(model)``, once per epoch (validation
    and the two checkpoints of an epoch share it; without ``epoch``, estimated anew)."""

    def __init__(self, estimate):
        self.estimate = estimate
        self._epoch, self._statistics = None, None

    def __call__(self, model, epoch=None):
        if epoch is None or epoch != self._epoch:
            self._epoch, self._statistics = epoch, self.estimate(model)
        return self._statistics


def _batch_norm_estimator(link_config: LinkConfig, train_config: TrainConfig, model_config: DeepRxConfig):
    """`_StatisticsPerEpoch` on fixed training slots of each DMRS count (data seed: the run's seed
    + 2), or `None` where the run saves none (`TrainConfig.batch_norm_slots`).

    The slots are drawn once, now, in training batches (the training data's
    links, already traced): after the model's initialisation, before the
    training data's first batch (both reseed Sionna's generator)."""
    if not train_config.saves_batch_norm_statistics():
        return None
    seed = train_config.seed + 2
    num_slots = max(train_config.batch_norm_slots, train_config.batch_size)  # at least one batch
    features = statistics_features(link_config, train_config.dmrs_symbols, num_slots,
                                   seed=seed, channel_models=train_config.channel_models,
                                   model_config=model_config, batch_size=train_config.batch_size)
    info = {"channel_models": list(train_config.channel_models), "seed": seed}
    return _StatisticsPerEpoch(functools.partial(BatchNormStatistics.estimate, features=features, info=info))
