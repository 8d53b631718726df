"""Knowledge distillation of DeepRx: the Keras `Distiller`, KD losses and the paper's procedure.

- `Distiller`: keras.io's distillation model (its code runs unchanged),
  ``alpha * L_student + (1 - alpha) * T^2 * KL(softmax)``.
- `DeepRxDistiller`: the same with the DeepRx paper's eq. (2),
  ``alpha * L_student + L_KD`` with the bit-wise KL (``deeprx distill``).
- `bitwise_kl`, `masked_bitwise_kl`, `categorical_kl`: KD losses.
- `distill_deeprx`: ``deeprx distill`` in Python.
- `KDPlan`, `KDExperiment`: the paper's four-step procedure (``deeprx sweep``).

Public names are imported on first use.
"""

import link_sim.tfenv  # noqa: F401  (must precede TensorFlow)
from link_sim.lazy import lazy_exports

_EXPORTS = {
    "Distiller": "distill.distiller",
    "DeepRxDistiller": "distill.distiller",
    "bitwise_kl": "distill.losses",
    "masked_bitwise_kl": "distill.losses",
    "categorical_kl": "distill.losses",
    "distill_deeprx": "distill.procedure",
    "distillation_hooks": "distill.procedure",
    "KDPlan": "distill.experiments",
    "KDExperiment": "distill.experiments",
}

__all__ = list(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
