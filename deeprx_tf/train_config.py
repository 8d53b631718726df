"""How DeepRx trains: `TrainConfig` and the channel models of training and validation.

This module imports neither TensorFlow nor Sionna, so the command line
reads its defaults without loading them.
"""

from __future__ import annotations

import dataclasses
import math

from link_sim.config import SINR_LIMITS_DB
from link_sim.errors import InputError

#: Channel models DeepRx trains on and is validated on (Honkala et al.):
#: unseen models in validation measure generalisation.
TRAIN_CHANNEL_MODELS = ("CDL-B", "CDL-C", "CDL-D", "TDL-B", "TDL-C", "TDL-D")
VALIDATION_CHANNEL_MODELS = ("CDL-A", "CDL-E", "TDL-A", "TDL-E")
#: `tf.distribute` strategies `deeprx_tf.training.make_strategy` builds.
STRATEGIES = ("default", "mirrored", "multiworker")
#: Warm-up steps of a run of at least 10 times as many steps (`TrainConfig.warmup_steps`).
DEFAULT_WARMUP_STEPS = 200
#: Optimizers (`deeprx_tf.optimizers.make_optimizer`).
OPTIMIZERS = ("adam", "lamb")
#: Training slots per DMRS count, and their data seed, that batch-norm statistics per DMRS count are
#: estimated from by default (`deeprx_tf.batch_norm`; a training run seeds them from its own seed).
BATCH_NORM_SLOTS, BATCH_NORM_SEED = 512, 123


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How a DeepRx is trained; saved in the model card next to the weights.

    Parameters
    ----------
    steps : int
        Optimizer steps in total.
    batch_size : int
        Slots per step (global, over all replicas).
    steps_per_epoch : int
        Steps between validations, checkpoints and log lines.
    learning_rate : float
        Peak learning rate of the warm-up then linear-decay schedule (Adam).
    warmup_steps : int or None
        Steps of linear warm-up; `None` (default): `DEFAULT_WARMUP_STEPS`,
        or a tenth of ``steps`` for a shorter run.
    seed : int
        Seed of the weights' initialisation and of the training data.
    validation_sinr_db : tuple of float
        SINR points of the validation Geometric Mean BER.
    validation_slots : int
        Validation slots per SINR point (over the validation channel models).
    dmrs_symbols : tuple of int
        DMRS symbol counts drawn for training (and validation).
    channel_models : tuple of str
        Training channel models.
    xla : bool
        Compile the train step with XLA.
    prune_sparsity : float
        Magnitude pruning: fraction of each convolution kernel's weights
        that are zero at the end (0: no pruning; `deeprx_tf.pruning`).
    prune_schedule : (float, float)
        Fractions of ``steps`` where pruning begins and reaches
        ``prune_sparsity`` (cubic ramp in between, then held).
    qat : bool
        Quantization-aware training for int8 export (`deeprx_tf.qat`);
        usually a fine-tuning stage of a float model.
    optimizer : "adam" or "lamb"
        Adam, or LAMB (`deeprx_tf.optimizers.Lamb`, the DeepRx paper's).
    weight_decay : float
        LAMB's decoupled weight decay.
    channel_loss_weight : float
        Initial weight of the auxiliary channel-estimate MSE, decaying
        linearly to 0 over ``steps`` (0: off; `deeprx_tf.privileged`).
    genie_loss_weight : float
        Weight of the cross-entropy to the perfect-CSI LMMSE receiver's
        soft bits (0: off; `deeprx_tf.privileged`).
    sinr_floor_fraction : float
        Fraction of training slots whose SINR is drawn in ``sinr_floor_db``
        instead of the scenario's range (`deeprx_tf.dataset.draw_sinr`).
    sinr_floor_db : (float, float)
        The SINR range [dB] of those slots (where the error floor is).
    batch_norm_slots : int
        Training slots per DMRS count that each saved checkpoint's
        batch-norm statistics per DMRS count are estimated from
        (`deeprx_tf.batch_norm`; whole batches, at least one); 0: the
        checkpoint keeps only the moving statistics. A QAT run has none
        (its graph is batch-norm-folded).
    """

    steps: int = 2000
    batch_size: int = 16
    steps_per_epoch: int = 100
    learning_rate: float = 2e-3
    warmup_steps: int | None = None
    seed: int = 0
    validation_sinr_db: tuple[float, ...] = (10.0, 20.0, 30.0)
    validation_slots: int = 64
    dmrs_symbols: tuple[int, ...] = (1, 2)
    channel_models: tuple[str, ...] = TRAIN_CHANNEL_MODELS
    xla: bool = False
    prune_sparsity: float = 0.0
    prune_schedule: tuple[float, float] = (0.1, 0.7)
    qat: bool = False
    optimizer: str = "adam"
    weight_decay: float = 0.0
    channel_loss_weight: float = 0.0
    genie_loss_weight: float = 0.0
    sinr_floor_fraction: float = 0.0
    sinr_floor_db: tuple[float, float] = (25.0, 40.0)
    batch_norm_slots: int = BATCH_NORM_SLOTS

    def __post_init__(self):
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("steps", "batch_size", "steps_per_epoch", "validation_slots"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be at least 1")
        if not 0 < self.learning_rate < math.inf:
            raise InputError(f"learning_rate must be a positive finite number, got {self.learning_rate}")
        if self.warmup_steps is None:
            object.__setattr__(self, "warmup_steps", min(DEFAULT_WARMUP_STEPS, int(self.steps) // 10))
        if not 0 <= self.warmup_steps < self.steps:
            raise InputError(f"the warm-up (warmup_steps, --warmup-steps) must be shorter than the run: "
                             f"{self.warmup_steps} warm-up steps for {self.steps} steps")
        low, high = SINR_LIMITS_DB
        if not self.validation_sinr_db or not all(low <= v <= high for v in self.validation_sinr_db):
            raise InputError(f"validation_sinr_db must be SINRs within [{low:g}, {high:g}] dB, "
                             f"got {self.validation_sinr_db!r}")
        if set(self.dmrs_symbols) - {1, 2}:
            raise InputError("dmrs_symbols must be 1 and/or 2")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"unknown optimizer {self.optimizer!r}: use {', '.join(OPTIMIZERS)}")
        for name in ("weight_decay", "channel_loss_weight", "genie_loss_weight"):
            if not 0 <= getattr(self, name) < math.inf:
                raise InputError(f"{name} must be a finite number >= 0, got {getattr(self, name)}")
        if not 0 <= self.sinr_floor_fraction <= 1:
            raise InputError(f"sinr_floor_fraction must be in [0, 1], got {self.sinr_floor_fraction}")
        floor_lo, floor_hi = self.sinr_floor_db
        if not low <= floor_lo < floor_hi <= high:
            raise InputError(f"sinr_floor_db must be LOW,HIGH within [{low:g}, {high:g}] dB, "
                             f"got {self.sinr_floor_db!r}")
        if isinstance(self.batch_norm_slots, bool) or not isinstance(self.batch_norm_slots, int) \
                or self.batch_norm_slots < 0:
            raise InputError(f"batch_norm_slots must be an integer >= 0 (0: off), got {self.batch_norm_slots!r}")
        if self.privileged_signals() and (self.qat or self.prune_sparsity):
            raise InputError("the privileged training signals (channel and genie losses) train the float "
                             "model: run pruning or QAT as a later stage (--init-from)")
        if self.prune_sparsity:
            self.pruning_schedule()  # validates sparsity and schedule
            if self.qat:
                raise InputError("pruning and quantization-aware training run as separate stages: "
                                 "prune first, then fine-tune the pruned checkpoint with QAT")

    def privileged_signals(self) -> tuple[str, ...]:
        """The privileged targets the training batches carry (`deeprx_tf.privileged`)."""
        return tuple(name for name, weight in (("channel", self.channel_loss_weight),
                                               ("genie_llr", self.genie_loss_weight)) if weight > 0)

    def saves_batch_norm_statistics(self) -> bool:
        """Whether the run's checkpoints keep batch-norm statistics per DMRS count (and its
        validation uses them): ``batch_norm_slots`` and not QAT (a batch-norm-folded graph)."""
        return bool(self.batch_norm_slots) and not self.qat

    def pruning_schedule(self):
        """The magnitude-pruning schedule (`deeprx_tf.pruning.PruningSchedule`) over ``steps``;
        `None` without pruning."""
        if not self.prune_sparsity:
            return None
        from deeprx_tf.pruning import PruningSchedule  # TensorFlow: only when pruning

        return PruningSchedule.over_training(self.prune_sparsity, self.steps, *self.prune_schedule)

    @classmethod
    def defaults(cls) -> dict:
        """Every field's default, as `to_dict` writes them (for cards written before a field existed)."""
        return cls().to_dict()

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
