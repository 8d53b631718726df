"""The paper's KD training of a DeepRx student, on top of `deeprx_tf.training.train_deeprx`.

The student trains exactly like ``deeprx train`` (same data pipeline and
seed, schedule, validation, checkpoints, distribution strategies); only the
loss differs, so a KD student and a scratch student with the same options
differ by the teacher alone.
"""

from __future__ import annotations

import functools
from pathlib import Path

from deeprx_tf.checkpoint import check_fits_scenario, load_checkpoint
from deeprx_tf.link_fit import describe_inputs
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.losses import MaskedBitErrorRate
from deeprx_tf.training import train_deeprx
from distill.distiller import DeepRxDistiller
from distill.losses import KD_LOSSES, LOGIT_CLIP
from distill.plan import (DEFAULT_SCALE_BY_T2, DEFAULT_SOBOLEV_WEIGHT, KD_LOSS_NAMES, KD_REDUCTIONS, PAPER_ALPHA,
                          PAPER_TEMPERATURE, check_kd_loss)
from link_sim import LinkConfig
from link_sim.errors import InputError


def check_teacher(teacher_config: DeepRxConfig, student_config: DeepRxConfig, link_config: LinkConfig,
                  name: str = "the teacher", hint: str = "give the student the teacher's inputs") -> None:
    """Raise `InputError` (one line) unless a teacher of ``teacher_config`` fits the scenario and
    reads the student's input features (both see the same batches); ``hint`` ends the message."""
    check_fits_scenario(teacher_config, link_config, name=name)
    if teacher_config.feature_options() != student_config.feature_options():
        raise InputError(f"the teacher reads {describe_inputs(teacher_config.feature_options())} inputs, "
                         f"the student {describe_inputs(student_config.feature_options())}: both see "
                         f"the same batches, so {hint}")


def distillation_hooks(teacher: str | Path, student_config: DeepRxConfig, link_config: LinkConfig,
                       alpha: float, temperature: float, scale_by_t2: bool = DEFAULT_SCALE_BY_T2,
                       sobolev_weight: float = DEFAULT_SOBOLEV_WEIGHT, kd_loss: str = KD_LOSS_NAMES[0],
                       kd_reduction: str = KD_REDUCTIONS[0]):
    """``(compile_trainee, card_extra)`` for `train_deeprx`: a `DeepRxDistiller` around the student.

    The teacher checkpoint is read and checked now (it exists, its weights
    load, it fits the scenario, it reads the student's input features); it
    is loaded again inside the strategy's scope when training starts.
    """
    DeepRxDistiller.check_loss_weights(alpha, temperature, sobolev_weight)  # before any work
    check_kd_loss(kd_loss, kd_reduction)
    distillation_loss_fn = functools.partial(KD_LOSSES[kd_loss], reduction=kd_reduction)
    loaded = load_checkpoint(teacher)  # its weights are read (and checked) now
    teacher_config = loaded.config
    check_teacher(teacher_config, student_config, link_config, name="the checkpoint")

    def compile_trainee(student, optimizer, jit_compile):
        # each batch normalized as a link of its DMRS count is (the statistics per DMRS count, where the
        # checkpoint has them): its moving statistics may fit one count far worse than the other
        distiller = DeepRxDistiller(student, load_checkpoint(teacher).model_for(None))
        distiller.build(student.input_shape)  # BackupAndRestore can only restore a built model
        distiller.compile(optimizer=optimizer, metrics=[MaskedBitErrorRate()], alpha=alpha,
                          distillation_loss_fn=distillation_loss_fn,
                          temperature=temperature, scale_by_t2=scale_by_t2,
                          sobolev_weight=sobolev_weight, jit_compile=jit_compile)
        return distiller

    card_extra = {"distillation": {
        "teacher": str(teacher),
        "teacher_size_vs_paper": teacher_config.size_vs_paper(),
        "teacher_architecture": teacher_config.to_dict(),
        "teacher_batch_norm": ("statistics per DMRS count" if loaded.batch_norm_statistics is not None
                               else "moving statistics"),
        "alpha": alpha, "temperature": temperature, "scale_by_t2": scale_by_t2,
        "sobolev_weight": sobolev_weight, "kd_loss": kd_loss, "kd_reduction": kd_reduction,
        "loss": "alpha * masked BCE + "
                + {"bitwise-kl": "bitwise KL(sigmoid(z_t/T) || sigmoid(z_s/T))",
                   "logit-mse": f"(clip(z_s/T) - clip(z_t/T))^2, clip {LOGIT_CLIP:g}"}[kd_loss]
                + f" ({kd_reduction} over data REs and bits)"
                + (" * T^2" if scale_by_t2 else "")
                + (" + sobolev_weight * MSE of input gradients" if sobolev_weight else ""),
    }}
    return compile_trainee, card_extra


def distill_deeprx(student_config, link_config: LinkConfig, train_config, out_dir, teacher,
                   alpha: float = PAPER_ALPHA, temperature: float = PAPER_TEMPERATURE,
                   scale_by_t2: bool = DEFAULT_SCALE_BY_T2, sobolev_weight: float = DEFAULT_SOBOLEV_WEIGHT,
                   kd_loss: str = KD_LOSS_NAMES[0], kd_reduction: str = KD_REDUCTIONS[0], **kwargs) -> dict:
    """Train a DeepRx student against a teacher checkpoint; returns the model card.

    Parameters are those of `deeprx_tf.training.train_deeprx` plus the
    teacher checkpoint, ``alpha`` and ``temperature`` (paper eq. 2 and its
    best values 5e5 and 3 as defaults), the ``T^2`` option, the Sobolev weight, and the
    distillation loss (``kd_loss``, `distill.plan.KD_LOSS_NAMES`) with its reduction over a
    slot (``kd_reduction``, `distill.plan.KD_REDUCTIONS`).
    """
    compile_trainee, card_extra = distillation_hooks(teacher, student_config, link_config, alpha, temperature,
                                                     scale_by_t2, sobolev_weight, kd_loss, kd_reduction)
    return train_deeprx(student_config, link_config, train_config, out_dir,
                        compile_trainee=compile_trainee, card_extra=card_extra, **kwargs)
