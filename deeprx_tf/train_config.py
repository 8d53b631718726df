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
    warmup_steps : int
        Steps of linear warm-up.
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
    """

    steps: int = 2000
    batch_size: int = 16
    steps_per_epoch: int = 100
    learning_rate: float = 2e-3
    warmup_steps: int = 200
    seed: int = 0
    validation_sinr_db: tuple[float, ...] = (10.0, 20.0, 30.0)
    validation_slots: int = 64
    dmrs_symbols: tuple[int, ...] = (1, 2)
    channel_models: tuple[str, ...] = TRAIN_CHANNEL_MODELS
    xla: bool = False
    prune_sparsity: float = 0.0
    prune_schedule: tuple[float, float] = (0.1, 0.7)
    qat: bool = False

    def __post_init__(self):
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("steps", "batch_size", "steps_per_epoch", "validation_slots"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be at least 1")
        if not 0 < self.learning_rate < math.inf:
            raise InputError(f"learning_rate must be a positive finite number, got {self.learning_rate}")
        if not 0 <= self.warmup_steps < self.steps:
            raise InputError("warmup_steps must be in [0, steps)")
        low, high = SINR_LIMITS_DB
        if not self.validation_sinr_db or not all(low <= v <= high for v in self.validation_sinr_db):
            raise InputError(f"validation_sinr_db must be SINRs within [{low:g}, {high:g}] dB, "
                             f"got {self.validation_sinr_db!r}")
        if set(self.dmrs_symbols) - {1, 2}:
            raise InputError("dmrs_symbols must be 1 and/or 2")
        if self.prune_sparsity:
            self.pruning_schedule()  # validates sparsity and schedule
            if self.qat:
                raise InputError("pruning and quantization-aware training run as separate stages: "
                                 "prune first, then fine-tune the pruned checkpoint with QAT")

    def pruning_schedule(self):
        """The magnitude-pruning schedule (`deeprx_tf.pruning.PruningSchedule`) over ``steps``;
        `None` without pruning."""
        if not self.prune_sparsity:
            return None
        from deeprx_tf.pruning import PruningSchedule  # TensorFlow: only when pruning

        return PruningSchedule.over_training(self.prune_sparsity, self.steps, *self.prune_schedule)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
