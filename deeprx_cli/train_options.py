"""The training options `deeprx train`, `distill` and `sweep` share, and how they run.

Every default is `TrainConfig`'s, read here without loading TensorFlow.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from deeprx_cli.common import FiniteFloatRange, format_list, parse_list, parse_range, scenario_options
from deeprx_tf.train_config import DEFAULT_WARMUP_STEPS, OPTIMIZERS, STRATEGIES, TrainConfig

_DEFAULTS = TrainConfig()


#: `train` and `distill`: fine-tune a checkpoint
INIT_FROM = click.option("--init-from", type=click.Path(path_type=Path),
                         help="Start from this checkpoint's weights (a folder or a shipped model's name; "
                              "fine-tuning; a run on one --dmrs-symbols count starts with that count's "
                              "batch-norm statistics where it has them); its architecture "
                              "is used unless an architecture option is given (it must match).")

_TRAINING_OPTIONS = [
    click.option("--steps", type=click.IntRange(min=1), default=_DEFAULTS.steps, show_default=True),
    click.option("--batch-size", type=click.IntRange(min=1), default=_DEFAULTS.batch_size,
                 show_default=True),
    click.option("--steps-per-epoch", type=click.IntRange(min=1), default=_DEFAULTS.steps_per_epoch,
                 show_default=True,
                 help="Steps between validation, checkpoint and log line (the last epoch ends at --steps)."),
    click.option("--lr", "learning_rate", type=FiniteFloatRange(min=0, min_open=True),
                 default=_DEFAULTS.learning_rate, show_default=True,
                 help="Peak learning rate (warm-up then linear decay)."),
    click.option("--warmup-steps", type=click.IntRange(min=0),
                 help=f"Steps of linear warm-up [default: {DEFAULT_WARMUP_STEPS}, or a tenth of --steps "
                      "for a shorter run]."),
    click.option("--dmrs-symbols", default=format_list(_DEFAULTS.dmrs_symbols), show_default=True,
                 help="DMRS symbol counts drawn for training and validation."),
    click.option("--channels", default=format_list(_DEFAULTS.channel_models), show_default=True,
                 help="Training channel models (validation uses CDL/TDL-A and -E)."),
    click.option("--validation-sinr", default=format_list(_DEFAULTS.validation_sinr_db), show_default=True,
                 help="SINR points [dB] of the validation Geometric Mean BER."),
    click.option("--validation-slots", type=click.IntRange(min=1), default=_DEFAULTS.validation_slots,
                 show_default=True, help="Validation slots per SINR point."),
    click.option("--seed", type=click.IntRange(min=0), default=_DEFAULTS.seed, show_default=True,
                 help="Seed of the initial weights and of the training data."),
    click.option("--xla", is_flag=True, default=_DEFAULTS.xla, help="Compile the train step with XLA."),
    click.option("--prune-sparsity", type=FiniteFloatRange(0, 1, max_open=True),
                 default=_DEFAULTS.prune_sparsity, show_default=True,
                 help="Magnitude pruning: fraction of each convolution kernel that is zero at the "
                      "end (0: no pruning)."),
    click.option("--prune-schedule", default=format_list(_DEFAULTS.prune_schedule), show_default=True,
                 help="BEGIN,END fractions of --steps over which the sparsity ramps up."),
    click.option("--qat", is_flag=True, default=_DEFAULTS.qat,
                 help="Quantization-aware training (fake int8) ahead of 'deeprx export --format "
                      "int8'; usually a fine-tuning stage (--init-from)."),
    click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=_DEFAULTS.optimizer, show_default=True,
                 help="Adam, or LAMB (the DeepRx paper's; use a larger --lr, e.g. 1e-2)."),
    click.option("--weight-decay", type=FiniteFloatRange(min=0), default=_DEFAULTS.weight_decay,
                 show_default=True, help="LAMB's decoupled weight decay."),
    click.option("--channel-loss-weight", type=FiniteFloatRange(min=0), default=_DEFAULTS.channel_loss_weight,
                 show_default=True,
                 help="Initial weight of an auxiliary loss on the true channel (a training-only head; "
                      "decays to 0 over --steps; 0: off)."),
    click.option("--genie-loss-weight", type=FiniteFloatRange(min=0), default=_DEFAULTS.genie_loss_weight,
                 show_default=True,
                 help="Weight of a cross-entropy to the perfect-CSI LMMSE receiver's soft bits (0: off)."),
    click.option("--sinr-floor-fraction", type=FiniteFloatRange(0, 1), default=_DEFAULTS.sinr_floor_fraction,
                 show_default=True,
                 help="Fraction of training slots drawn in --sinr-floor instead of the scenario's SINR range."),
    click.option("--sinr-floor", default=format_list(_DEFAULTS.sinr_floor_db), show_default=True,
                 help="LOW,HIGH [dB] of the --sinr-floor-fraction slots."),
    click.option("--batch-norm-slots", type=click.IntRange(min=0), default=_DEFAULTS.batch_norm_slots,
                 show_default=True,
                 help="Training slots per DMRS count that each saved checkpoint's batch-norm statistics "
                      "per DMRS count are estimated from (0: keep only the moving statistics)."),
    click.option("--strategy", type=click.Choice(STRATEGIES), default=STRATEGIES[0], show_default=True,
                 help="tf.distribute strategy."),
    click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
                 help="Checkpoint folder; an interrupted run in it is resumed."),
    click.option("--overwrite", is_flag=True,
                 help="Train anew in --out, replacing what is there (a finished or interrupted run)."),
]


def training_options(command):
    """The training options shared by `train`, `distill` and `sweep` (and the scenario options)."""
    for option in reversed(_TRAINING_OPTIONS):
        command = option(command)
    return scenario_options(command)


def train_config_from_options(*, steps, batch_size, steps_per_epoch, learning_rate, warmup_steps,
                              dmrs_symbols, channels, validation_sinr, validation_slots, seed, xla,
                              prune_sparsity, prune_schedule, qat, optimizer, weight_decay,
                              channel_loss_weight, genie_loss_weight, sinr_floor_fraction,
                              sinr_floor, batch_norm_slots) -> TrainConfig:
    """The `TrainConfig` of the training options."""
    from link_sim.config import CHANNEL_MODELS

    channel_list = parse_list(channels, "--channels", str)
    for name in channel_list:
        if name not in CHANNEL_MODELS:
            raise click.BadParameter(f"unknown channel model {name!r}", param_hint="--channels")
    return TrainConfig(
        steps=steps, batch_size=batch_size, steps_per_epoch=steps_per_epoch,
        learning_rate=learning_rate, warmup_steps=warmup_steps, seed=seed,
        validation_sinr_db=parse_list(validation_sinr, "--validation-sinr"),
        validation_slots=validation_slots, dmrs_symbols=parse_list(dmrs_symbols, "--dmrs-symbols", int),
        channel_models=channel_list, xla=xla, prune_sparsity=prune_sparsity,
        prune_schedule=parse_range(prune_schedule, "--prune-schedule"), qat=qat, optimizer=optimizer,
        weight_decay=weight_decay, channel_loss_weight=channel_loss_weight,
        genie_loss_weight=genie_loss_weight, sinr_floor_fraction=sinr_floor_fraction,
        sinr_floor_db=parse_range(sinr_floor, "--sinr-floor"), batch_norm_slots=batch_norm_slots)


def model_config_from_options(preset, model_config_path, flops, scenario, init_from=None,
                              names=("--preset", "--model-config", "--flops")):
    """The DeepRx architecture of --preset, --model-config or --flops (FLOPs per slot of the scenario).

    With none of them, the --init-from checkpoint's architecture, else the x0.25 preset.
    ``names`` are the three options' names in the calling command (for its errors).
    """
    from deeprx_tf.config import PAPER_NUM_SUBCARRIERS, DeepRxConfig, link_dimensions

    chosen = [name for name, value in zip(names, (preset, model_config_path, flops)) if value is not None]
    if len(chosen) > 1:
        raise click.UsageError(f"give only one of {', '.join(chosen)}")
    if init_from is not None:
        from deeprx_tf.checkpoint import read_checkpoint_config

        init_config = read_checkpoint_config(init_from)
        if not chosen:
            return init_config
    kw = link_dimensions(scenario)
    if model_config_path is not None:
        config = DeepRxConfig.from_json(model_config_path, defaults=kw)  # the scenario's where omitted
    elif flops is not None:
        config = DeepRxConfig.for_flops(flops, num_subcarriers=scenario.num_subcarriers, **kw)
        if scenario.num_subcarriers != PAPER_NUM_SUBCARRIERS:  # a target read on the paper's grid would differ
            on_paper_grid = DeepRxConfig.for_flops(flops, **kw)
            click.echo(f"--flops {flops:g} per slot of this {scenario.num_subcarriers}-subcarrier grid: "
                       f"{config.size_vs_paper():.3g} x the paper's FLOPs per RE (on the paper's "
                       f"{PAPER_NUM_SUBCARRIERS} subcarriers the same target gives "
                       f"{on_paper_grid.size_vs_paper():.3g} x)", err=True)
    else:
        config = DeepRxConfig.preset(preset or "x0.25", **kw)
    if init_from is not None and config != init_config:
        raise click.BadParameter(f"{chosen[0]} asks for another architecture than the checkpoint's",
                                 param_hint="--init-from")
    return config


def run_training(model_config, scenario, *, strategy, out_dir, overwrite, what="DeepRx",
                 init_from=None, compile_trainee=None, card_extra=None, keep_epochs=False, **options) -> dict:
    """Check the training options, prepare --out (resume, --overwrite) and run `train_deeprx`."""
    import shutil

    train_config = train_config_from_options(**options)
    steps = train_config.steps
    from deeprx_tf.training import run_differences, train_deeprx
    from link_sim.errors import InputError, OutputExistsError
    from deeprx_tf.folders import BACKUP, FINISHED, FOREIGN, MODEL_JSON, read_folder
    from link_sim.results import prepare_output_dir, removed_if_refused

    meta = out_dir / MODEL_JSON
    if overwrite:  # start anew: whatever is in --out (finished, interrupted or corrupt) is not resumed
        shutil.rmtree(out_dir / BACKUP, ignore_errors=True)
    else:
        folder = read_folder(out_dir)
        state = folder.state
        if state == FOREIGN:
            raise InputError(f"{meta} is not a deeprx-tf checkpoint; pass --overwrite to train anew "
                             "or choose another --out folder")
        if state == FINISHED:
            differ = run_differences(folder, model_config, scenario, train_config, init_from)
            if differ:
                raise OutputExistsError(
                    f"{meta} is a finished run with other options ({', '.join(differ)}), and a finished "
                    f"run is not extended: train on from its weights with --init-from {out_dir} into "
                    "another --out, or pass --overwrite to train anew")
            raise OutputExistsError(f"{meta} is a finished checkpoint; pass --overwrite to train "
                                    "anew or choose another --out folder")
    with removed_if_refused(out_dir):
        # the workers of a multi-worker run share --out: only a single process locks it
        out = prepare_output_dir(out_dir, (), overwrite=True, lock=strategy != "multiworker")
        announce = (f"training {what} ({model_config.size_vs_paper():.3f} x paper FLOPs/RE, "
                    f"{model_config.flops_per_slot(scenario.num_subcarriers) / 1e6:.1f} MFLOP per "
                    f"{scenario.num_subcarriers}-subcarrier slot) for {steps} steps into {out}")
        card = train_deeprx(model_config, scenario, train_config, out, strategy=strategy,
                            command=" ".join(["deeprx"] + sys.argv[1:]), init_from=init_from,
                            compile_trainee=compile_trainee, card_extra=card_extra, keep_epochs=keep_epochs,
                            # a progress bar from the first batch on a terminal, a line per epoch in a log
                            verbose=1 if sys.stdout.isatty() else 2,
                            on_start=lambda: click.echo(announce, err=True))
    pruned = (f"sparsity {card['pruning']['sparsity_reached']:.1%}; " if card.get("pruning") else "")
    click.echo(f"validation Geometric Mean BER {card['validation']['val_gmber']:.3f}; {pruned}"
               f"wrote {out / MODEL_JSON}")
    return card
