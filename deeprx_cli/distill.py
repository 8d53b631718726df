"""``deeprx distill``: train a small DeepRx student against a teacher (knowledge distillation)."""

from __future__ import annotations

from pathlib import Path

import click

from deeprx_cli.common import (FiniteFloatRange, scenario_from_options, split_scenario,
                                  uses_tensorflow)
from deeprx_cli.train_options import INIT_FROM, model_config_from_options, run_training, training_options
from distill.plan import (DEFAULT_SCALE_BY_T2, DEFAULT_SOBOLEV_WEIGHT, KD_LOSS_NAMES, KD_REDUCTIONS, PAPER_ALPHA,
                          PAPER_TEMPERATURE)


@click.command()
@click.option("--teacher", type=click.Path(path_type=Path), required=True,
              help="Checkpoint of the teacher DeepRx: a folder or a shipped model's name ('default').")
@click.option("--student-preset",
              help="Student architecture: a width multiplier like 'x0.125', with the teacher's inputs.")
@click.option("--student-flops", type=FiniteFloatRange(min=0, min_open=True),
              help="Or the student's FLOPs per slot of this scenario's grid.")
@click.option("--student-model-config", type=click.Path(dir_okay=False, path_type=Path),
              help="Or the student architecture as DeepRxConfig JSON (omitted link fields: the scenario's).")
@click.option("--alpha", type=FiniteFloatRange(min=0), default=PAPER_ALPHA, show_default=True,
              help="Weight of the student's own loss: L = alpha * BCE + KL (paper eq. 2).")
@click.option("--temperature", type=FiniteFloatRange(min=0, min_open=True), default=PAPER_TEMPERATURE,
              show_default=True, help="Softening temperature T of the bit probabilities.")
@click.option("--t2/--no-t2", "scale_by_t2", default=DEFAULT_SCALE_BY_T2, show_default=True,
              help="Multiply the KL term by T^2 (Hinton et al.; the paper does not).")
@click.option("--sobolev-weight", type=FiniteFloatRange(min=0), default=DEFAULT_SOBOLEV_WEIGHT, show_default=True,
              help="Also match the teacher's input gradients (Sobolev training) with this weight.")
@click.option("--kd-loss", type=click.Choice(KD_LOSS_NAMES), default=KD_LOSS_NAMES[0], show_default=True,
              help="bitwise-kl: KL of the softened bit probabilities (the paper); logit-mse: squared "
                   "error of the clipped logits (logit matching).")
@click.option("--kd-reduction", type=click.Choice(KD_REDUCTIONS), default=KD_REDUCTIONS[0],
              show_default=True,
              help="The KD loss per slot: mean or sum over its data REs and bits.")
@INIT_FROM
@training_options
@uses_tensorflow
def distill(teacher, student_preset, student_flops, student_model_config, init_from, alpha,
            temperature, scale_by_t2, sobolev_weight, kd_loss, kd_reduction, **options):
    """Train a small DeepRx student against a teacher checkpoint (knowledge distillation).

    Same data, schedule, validation and checkpoints as 'deeprx train'; the
    model card records the teacher, alpha, T and the data seed. With
    --init-from and --qat, the student starts from a trained checkpoint and
    learns fake int8 with the teacher's LLRs as targets (quantization-aware
    distillation; give the float checkpoint as both, and a small --alpha).
    """
    scenario_opts, training = split_scenario(options)
    scenario = scenario_from_options(**scenario_opts)
    if (student_preset is None and student_flops is None and student_model_config is None
            and init_from is None):
        raise click.UsageError("give the student's size: --student-preset, --student-flops, "
                               "--student-model-config or --init-from")
    student_config = model_config_from_options(
        student_preset, student_model_config, student_flops, scenario, init_from,
        names=("--student-preset", "--student-model-config", "--student-flops"))
    if student_preset is not None or student_flops is not None:
        import dataclasses

        from deeprx_tf.checkpoint import read_checkpoint_config

        # a preset names the width; the student reads the batches the teacher reads
        student_config = dataclasses.replace(student_config,
                                             **read_checkpoint_config(teacher).feature_options())
    from distill.procedure import distillation_hooks

    compile_trainee, card_extra = distillation_hooks(teacher, student_config, scenario, alpha=alpha,
                                                     temperature=temperature, scale_by_t2=scale_by_t2,
                                                     sobolev_weight=sobolev_weight, kd_loss=kd_loss,
                                                     kd_reduction=kd_reduction)
    run_training(student_config, scenario, init_from=init_from, compile_trainee=compile_trainee,
                 card_extra=card_extra, what="DeepRx student", **training)
