"""The paper's KD training of a DeepRx student, on top of `deeprx_tf.training.train_deeprx`.

The student trains exactly like ``deeprx train`` (same data pipeline and
seed, schedule, validation, checkpoints, distribution strategies); only the
loss differs, so a KD student and a scratch student with the same options
differ by the teacher alone.
"""

from __future__ import annotations

import link_sim.tfenv  # noqa: F401  (before TensorFlow)

from pathlib import Path

from deeprx_tf.checkpoint import check_fits_scenario, load_checkpoint
from deeprx_tf.losses import MaskedBitErrorRate
from deeprx_tf.training import train_deeprx
from distill.distiller import DeepRxDistiller
from distill.plan import PAPER_ALPHA, PAPER_TEMPERATURE
from link_sim import LinkConfig


def distillation_hooks(teacher: str | Path, link_config: LinkConfig, alpha: float,
                       temperature: float, scale_by_t2: bool = False, sobolev_weight: float = 0.0):
    """``(compile_trainee, card_extra)`` for `train_deeprx`: a `DeepRxDistiller` around the student.

    The teacher checkpoint is read and checked now (it exists, its weights
    load, it fits the scenario); it is loaded again inside the strategy's
    scope when training starts.
    """
    DeepRxDistiller.check_loss_weights(alpha, temperature, sobolev_weight)  # before any work
    teacher_config = load_checkpoint(teacher).config  # its weights are read (and checked) now
    check_fits_scenario(teacher_config, link_config)

    def compile_trainee(student, optimizer, jit_compile):
        distiller = DeepRxDistiller(student, load_checkpoint(teacher).model)
        distiller.build(student.input_shape)  # BackupAndRestore can only restore a built model
        distiller.compile(optimizer=optimizer, metrics=[MaskedBitErrorRate()], alpha=alpha,
                          temperature=temperature, scale_by_t2=scale_by_t2,
                          sobolev_weight=sobolev_weight, jit_compile=jit_compile)
        return distiller

    card_extra = {"distillation": {
        "teacher": str(teacher),
        "teacher_size_vs_paper": teacher_config.size_vs_paper(),
        "teacher_architecture": teacher_config.to_dict(),
        "alpha": alpha, "temperature": temperature, "scale_by_t2": scale_by_t2,
        "sobolev_weight": sobolev_weight,
        "loss": "alpha * masked BCE + bitwise KL(sigmoid(z_t/T) || sigmoid(z_s/T))"
                + (" * T^2" if scale_by_t2 else "")
                + (" + sobolev_weight * MSE of input gradients" if sobolev_weight else ""),
    }}
    return compile_trainee, card_extra


def distill_deeprx(student_config, link_config: LinkConfig, train_config, out_dir, teacher,
                   alpha: float = PAPER_ALPHA, temperature: float = PAPER_TEMPERATURE,
                   scale_by_t2: bool = False, sobolev_weight: float = 0.0, **kwargs) -> dict:
    """Train a DeepRx student against a teacher checkpoint; returns the model card.

    Parameters are those of `deeprx_tf.training.train_deeprx` plus the
    teacher checkpoint, ``alpha`` and ``temperature`` (paper eq. 2 and its
    best values 5e5 and 3 as defaults), the ``T^2`` option and the Sobolev weight.
    """
    compile_trainee, card_extra = distillation_hooks(teacher, link_config, alpha, temperature,
                                                     scale_by_t2, sobolev_weight)
    return train_deeprx(student_config, link_config, train_config, out_dir,
                        compile_trainee=compile_trainee, card_extra=card_extra, **kwargs)
