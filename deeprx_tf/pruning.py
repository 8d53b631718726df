"""Magnitude pruning of DeepRx during training, with tensorflow-model-optimization.

`prunable` wraps a model's Conv2D layers in tfmot's ``PruneLowMagnitude``
with a polynomial sparsity schedule; the wrappers share the original
layers, so the original model holds the pruned weights (re-masked at the
end of every epoch by `UpdatePruningStep`) and is what gets saved: the
stripped model (tfmot's ``strip_pruning``) without a copy. `sparsity`
measures what a model reached.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from link_sim.errors import InputError

#: Layers whose kernels are pruned (and counted by `sparsity`): DeepRx's input,
#: pointwise, projection and head convolutions, which hold almost all of its
#: weights and FLOPs. tfmot 0.8 does not prune depthwise kernels (it wraps
#: DepthwiseConv2D but leaves it dense), so they are left out here too.
PRUNED_LAYERS = (keras.layers.Conv2D,)


@dataclasses.dataclass(frozen=True)
class PruningSchedule:
    """Sparsity rising polynomially (cubic) from 0 to ``target_sparsity``.

    Parameters
    ----------
    target_sparsity : float
        Fraction of each pruned kernel's weights set to zero at the end, in [0, 1).
    begin_step, end_step : int
        Optimizer steps where pruning starts and where it reaches the target.
    frequency : int
        Steps between mask updates.
    """

    target_sparsity: float
    begin_step: int
    end_step: int
    frequency: int = 100

    def __post_init__(self):
        if not 0.0 <= self.target_sparsity < 1.0:
            raise InputError(f"target sparsity must be in [0, 1), got {self.target_sparsity}")
        if not 0 <= self.begin_step < self.end_step:
            raise InputError(f"pruning must begin before it ends, got steps {self.begin_step} "
                             f"and {self.end_step}")
        if self.frequency < 1:
            raise InputError("the pruning frequency must be at least 1 step")

    @classmethod
    def over_training(cls, target_sparsity: float, total_steps: int, begin: float = 0.1,
                      end: float = 0.7) -> "PruningSchedule":
        """A schedule from fraction ``begin`` to fraction ``end`` of ``total_steps``."""
        if not 0.0 <= begin < end <= 1.0:
            raise InputError(f"the pruning schedule BEGIN,END must be fractions of training with "
                             f"0 <= BEGIN < END <= 1, got {begin},{end}")
        begin_step, end_step = int(begin * total_steps), max(1, int(end * total_steps))
        frequency = max(1, min(100, (end_step - begin_step) // 10))
        return cls(target_sparsity, begin_step, max(end_step, begin_step + 1), frequency)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def prunable(model: keras.Model, schedule: PruningSchedule) -> keras.Model:
    """``model`` with every `PRUNED_LAYERS` layer wrapped for magnitude pruning.

    Train the returned model with `pruning_callbacks` in ``fit``; ``model``
    itself shares the layers and holds the pruned weights.
    """
    polynomial = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=schedule.target_sparsity,
        begin_step=schedule.begin_step, end_step=schedule.end_step, frequency=schedule.frequency)

    def wrap(layer):
        if isinstance(layer, PRUNED_LAYERS):
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=polynomial)
        return layer

    return keras.models.clone_model(model, clone_function=wrap)


def pruning_callbacks() -> list:
    """What ``fit`` needs for a `prunable` model: tfmot's step counter (which also re-masks
    the weights at every epoch end). Put it before callbacks that save the model."""
    return [tfmot.sparsity.keras.UpdatePruningStep()]


def strip_pruning(model: keras.Model) -> keras.Model:
    """The plain model behind a `prunable` one (tfmot's ``strip_pruning``)."""
    return tfmot.sparsity.keras.strip_pruning(model)


def sparsity(model: keras.Model) -> dict:
    """Fraction of zero weights in a model's pruned kernels.

    Returns
    -------
    dict
        ``total`` over all `PRUNED_LAYERS` kernels, and ``by_layer``.
    """
    zeros = total = 0
    by_layer = {}
    for layer in model.layers:
        layer = getattr(layer, "layer", layer)  # a pruning wrapper's layer
        if isinstance(layer, PRUNED_LAYERS):
            kernel = np.asarray(layer.get_weights()[0])
            by_layer[layer.name] = float(np.mean(kernel == 0))
            zeros, total = zeros + int(np.sum(kernel == 0)), total + kernel.size
    return {"total": zeros / total if total else 0.0, "by_layer": by_layer}
