"""The ``deeprx`` command line.

Every command reports a user's mistake (a bad option, a missing or
malformed file, results that would be overwritten) as one line on stderr
with exit code 2, never a traceback; Ctrl-C keeps what finished and exits
with 130.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from deeprx_tf import __version__

#: Files `deeprx simulate` writes into its output folder.
SIMULATE_OUTPUTS = ("results.json", "ber.png", "ber.csv")

_DEFAULT_SINR_GRID = "5:35:5"


def _parse_range(text: str | None, option: str) -> tuple[float, float] | None:
    """``"a,b"`` (or a single ``"a"``) to ``(a, b)``."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a number or a pair MIN,MAX", param_hint=option) from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2:
        raise click.BadParameter(f"{text!r} must be MIN,MAX", param_hint=option)
    return (values[0], values[1])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deeprx")
def cli():
    """DeepRx for Sionna 5G NR links: simulate, train, distill, sweep, profile, export."""


_SCENARIO_OPTIONS = [
    click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                 help="Scenario as LinkConfig JSON; the options below override its fields."),
    click.option("--channel", help="Channel model: CDL-A..E, TDL-A..E, UMi or AWGN."),
    click.option("--num-prb", type=int, help="Bandwidth in PRBs."),
    click.option("--num-rx-ant", type=int, help="Base-station receive antennas."),
    click.option("--num-tx-ant", type=int, help="UE transmit antennas (1, 2 or 4)."),
    click.option("--num-layers", type=int, help="MIMO layers."),
    click.option("--mcs-index", type=int, help="MCS index of the 256-QAM table (20-27)."),
    click.option("--num-dmrs-symbols", type=int, help="DMRS symbols per slot (1 or 2)."),
    click.option("--speed", help="UE speed range MIN,MAX [m/s]."),
    click.option("--delay-spread", help="RMS delay spread range MIN,MAX [ns]."),
    click.option("--sinr-range", help="SINR range MIN,MAX [dB] of training data."),
    click.option("--sir", help="Add a co-channel interferer with this SIR range MIN,MAX [dB]."),
]


def scenario_options(command):
    """The scenario options shared by every command that runs a link."""
    for option in reversed(_SCENARIO_OPTIONS):
        command = option(command)
    return command


def scenario_from_options(config_path, channel, num_prb, num_rx_ant, num_tx_ant, num_layers,
                          mcs_index, num_dmrs_symbols, speed, delay_spread, sinr_range, sir, base=None):
    """The `LinkConfig` of --config (else ``base``, else the default) with the options
    applied; 256-QAM required."""
    from link_sim.config import LinkConfig

    if config_path:
        scenario = LinkConfig.from_json(config_path)
    else:
        scenario = base if base is not None else LinkConfig()
    overrides = {
        "channel_model": channel, "num_prb": num_prb, "num_rx_ant": num_rx_ant,
        "num_tx_ant": num_tx_ant, "num_layers": num_layers, "mcs_index": mcs_index,
        "num_dmrs_symbols": num_dmrs_symbols, "speed_mps": _parse_range(speed, "--speed"),
        "delay_spread_ns": _parse_range(delay_spread, "--delay-spread"),
        "sinr_db": _parse_range(sinr_range, "--sinr-range"),
        "sir_db": _parse_range(sir, "--sir"),
    }
    scenario = scenario.replace(**{k: v for k, v in overrides.items() if v is not None})
    scenario.require_256qam()
    return scenario


def receiver_specs(names, checkpoint, scenario, sinr_db=()) -> dict:
    """Receiver names (and a DeepRx checkpoint) to what `LinkSimulator` takes as ``receiver``.

    A DeepRx checkpoint used where it never trained (channel model, DMRS count,
    MCS, SINR points ``sinr_db``) gets one warning line per mismatch on stderr."""
    from link_sim.receivers import BASELINE_RECEIVERS

    specs = {}
    for name in dict.fromkeys(names):  # de-duplicate, keep order
        if name in BASELINE_RECEIVERS:
            specs[name] = name
        elif name == "deeprx" or name.startswith("deeprx:"):
            from deeprx_tf.checkpoint import check_fits_scenario, load_checkpoint
            from deeprx_tf.receiver import DeepRxReceiver
            from deeprx_tf.shipped import shipped_checkpoint

            if name != "deeprx":
                path = Path(name.split(":", 1)[1])
            else:
                path = checkpoint if checkpoint is not None else shipped_checkpoint()
            loaded = load_checkpoint(path)
            check_fits_scenario(loaded.config, scenario)
            domain = loaded.training_domain
            if domain is not None:
                for note in domain.unfamiliar(scenario.channel_model, scenario.num_dmrs_symbols,
                                              scenario.mcs_index, sinr_db):
                    click.echo(f"warning: {name} ({path}) never trained on {note}", err=True)
            # the model and its config, not the checkpoint: the warnings above are the receiver's
            specs[name] = lambda tx, m=loaded.model, c=loaded.config: DeepRxReceiver(tx, m, config=c)
        elif name.startswith("tflite:"):
            from deeprx_tf.litert import TFLiteModel, TFLiteReceiver

            model = TFLiteModel(Path(name.split(":", 1)[1]))
            model.check_fits_scenario(scenario)
            specs[name] = lambda tx, model=model: TFLiteReceiver(tx, model)
        else:
            raise click.BadParameter(
                f"unknown receiver {name!r}; choose from "
                f"{', '.join(BASELINE_RECEIVERS + ('deeprx', 'deeprx:CHECKPOINT', 'tflite:FILE'))}",
                param_hint="--receiver")
    if checkpoint is not None and "deeprx" not in specs:
        raise click.UsageError("--checkpoint needs --receiver deeprx")
    return specs


@cli.command()
@scenario_options
@click.option("--sinr", "sinr_grid", default=_DEFAULT_SINR_GRID, show_default=True,
              help="SINR grid [dB]: START:STOP:STEP (STOP included) or a list A,B,C.")
@click.option("--receiver", "receivers", multiple=True, default=("lmmse", "perfect-csi", "deeprx"),
              show_default=True,
              help="Receiver to compare (repeat): lmmse, perfect-csi, deeprx (the shipped model "
                   "or --checkpoint), deeprx:CHECKPOINT (any number of them), tflite:FILE (an "
                   "exported model run with LiteRT; any number of them).")
@click.option("--checkpoint", type=click.Path(path_type=Path),
              help="DeepRx checkpoint folder for --receiver deeprx (default: the shipped model).")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Slots per Monte Carlo batch.")
@click.option("--max-mc-iter", type=click.IntRange(min=1), default=10, show_default=True,
              help="Largest number of batches per SINR point.")
@click.option("--target-block-errors", type=click.IntRange(min=1), default=100, show_default=True,
              help="A SINR point is done after this many transport block errors.")
@click.option("--early-stop/--no-early-stop", default=True, show_default=True,
              help="Skip the rest of a curve after an error-free SINR point.")
@click.option("--target-ber", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=1e-3,
              show_default=True, help="BER at which SINRs and gains are read (uncoded BER).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--graph-mode", type=click.Choice(["eager", "graph", "xla"]), default="graph",
              show_default=True, help="TensorFlow execution mode of the link.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/simulate"), show_default=True, help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Replace existing results in --out.")
def simulate(sinr_grid, receivers, checkpoint, batch_size, max_mc_iter, target_block_errors, early_stop,
             target_ber, seed, graph_mode, out_dir, overwrite, **scenario):
    """Compare receivers by BER/BLER over SINR on one PUSCH scenario.

    Writes results.json (per receiver and SINR point: uncoded BER on the
    coded bits, coded BER, BLER, bits and blocks simulated; Geometric Mean
    BER per receiver), ber.csv and ber.png into --out.
    """
    from link_sim.results import prepare_output_dir

    scenario = scenario_from_options(**scenario)

    from link_sim.sweep import parse_sinr_grid

    grid = parse_sinr_grid(sinr_grid)
    out = prepare_output_dir(out_dir, SIMULATE_OUTPUTS, overwrite)
    specs = receiver_specs(receivers, checkpoint, scenario, grid)

    from link_sim.compare import compare_receivers

    click.echo(f"scenario: {scenario.channel_model}, {scenario.num_prb} PRB @ "
               f"{scenario.subcarrier_spacing_khz} kHz, {scenario.num_tx_ant}x{scenario.num_rx_ant}, "
               f"MCS {scenario.mcs_index}, {scenario.num_dmrs_symbols} DMRS symbol(s); "
               f"SINR {grid[0]:g}..{grid[-1]:g} dB ({len(grid)} points)", err=True)
    start = time.time()

    def progress(name, point):
        click.echo(f"  {name:<12} SINR {point.sinr_db:6.1f} dB  uncoded BER {point.uncoded_ber:.3e}  "
                   f"coded BER {point.coded_ber:.3e}  BLER {point.bler:.3f}  "
                   f"({point.blocks} blocks, {time.time() - start:.0f} s)", err=True)

    report = compare_receivers(
        scenario, specs, grid, batch_size=batch_size, max_mc_iter=max_mc_iter,
        num_target_block_errors=target_block_errors, early_stop=early_stop, seed=seed,
        graph_mode=graph_mode, target_ber=target_ber, out_dir=out, on_point=progress,
        command=" ".join(["deeprx"] + sys.argv[1:]))
    for name, entry in report["receivers"].items():
        at = entry["sinr_db_at_target_ber"]
        click.echo(f"{name:<12} Geometric Mean BER {entry['geometric_mean_ber']:.3f}   "
                   f"SINR at BER {target_ber:g}: {'not reached' if at is None else f'{at:.1f} dB'}")
    click.echo(f"wrote {out / 'results.json'}, {out / 'ber.png'}, {out / 'ber.csv'}")
    if report["interrupted"]:
        raise KeyboardInterrupt



def _parse_list(text: str, option: str, kind=float) -> tuple:
    try:
        values = tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list", param_hint=option) from None
    if not values:
        raise click.BadParameter("the list is empty", param_hint=option)
    return values


def model_config_from_options(preset, model_config_path, flops, scenario, init_from=None,
                              names=("--preset", "--model-config", "--flops")):
    """The DeepRx architecture of --preset, --model-config or --flops (FLOPs per slot of the scenario).

    With none of them, the --init-from checkpoint's architecture, else the x0.25 preset.
    ``names`` are the three options' names in the calling command (for its errors).
    """
    from deeprx_tf.config import DeepRxConfig

    chosen = [name for name, value in zip(names, (preset, model_config_path, flops)) if value is not None]
    if len(chosen) > 1:
        raise click.UsageError(f"give only one of {', '.join(chosen)}")
    if init_from is not None:
        from deeprx_tf.checkpoint import read_checkpoint_config

        init_config = read_checkpoint_config(init_from)
        if not chosen:
            return init_config
    kw = {"num_rx_ant": scenario.num_rx_ant, "num_bits_per_symbol": scenario.num_bits_per_symbol}
    if model_config_path is not None:
        config = DeepRxConfig.from_json(model_config_path)
    elif flops is not None:
        config = DeepRxConfig.for_flops(flops, num_subcarriers=scenario.num_subcarriers, **kw)
    else:
        config = DeepRxConfig.preset(preset or "x0.25", **kw)
    if init_from is not None and config != init_config:
        raise click.BadParameter(f"{chosen[0]} asks for another architecture than the checkpoint's",
                                 param_hint="--init-from")
    return config


#: `train` and `distill`: fine-tune a checkpoint
_INIT_FROM = click.option("--init-from", type=click.Path(path_type=Path),
                          help="Start from this checkpoint's weights (fine-tuning); its architecture "
                               "is used unless an architecture option is given (it must match).")


_TRAINING_OPTIONS = [
    click.option("--steps", type=click.IntRange(min=1), default=2000, show_default=True),
    click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True),
    click.option("--steps-per-epoch", type=click.IntRange(min=1), default=100, show_default=True,
                 help="Steps between validation, checkpoint and log line."),
    click.option("--lr", "learning_rate", type=click.FloatRange(min=0, min_open=True), default=2e-3,
                 show_default=True, help="Peak learning rate (Adam, warm-up then linear decay)."),
    click.option("--warmup-steps", type=click.IntRange(min=0), default=200, show_default=True),
    click.option("--dmrs-symbols", default="1,2", show_default=True,
                 help="DMRS symbol counts drawn for training and validation."),
    click.option("--channels", default="CDL-B,CDL-C,CDL-D,TDL-B,TDL-C,TDL-D", show_default=True,
                 help="Training channel models (validation uses CDL/TDL-A and -E)."),
    click.option("--validation-sinr", default="10,20,30", show_default=True,
                 help="SINR points [dB] of the validation Geometric Mean BER."),
    click.option("--validation-slots", type=click.IntRange(min=1), default=64, show_default=True,
                 help="Validation slots per SINR point."),
    click.option("--seed", type=int, default=0, show_default=True,
                 help="Seed of the initial weights and of the training data."),
    click.option("--xla", is_flag=True, help="Compile the train step with XLA."),
    click.option("--prune-sparsity", type=click.FloatRange(0, 1, max_open=True), default=0.0,
                 show_default=True, help="Magnitude pruning: fraction of each convolution kernel "
                                         "that is zero at the end (0: no pruning)."),
    click.option("--prune-schedule", default="0.1,0.7", show_default=True,
                 help="BEGIN,END fractions of --steps over which the sparsity ramps up."),
    click.option("--qat", is_flag=True,
                 help="Quantization-aware training (fake int8) ahead of 'deeprx export --format "
                      "int8'; usually a fine-tuning stage (--init-from)."),
    click.option("--strategy", type=click.Choice(["default", "mirrored", "multiworker"]), default="default",
                 show_default=True, help="tf.distribute strategy."),
    click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
                 help="Checkpoint folder; an interrupted run in it is resumed."),
    click.option("--overwrite", is_flag=True, help="Replace a finished checkpoint in --out."),
]


def training_options(command):
    """The training options shared by `train` and `distill` (and the scenario options)."""
    for option in reversed(_TRAINING_OPTIONS):
        command = option(command)
    return scenario_options(command)


def train_config_from_options(*, steps, batch_size, steps_per_epoch, learning_rate, warmup_steps,
                              dmrs_symbols, channels, validation_sinr, validation_slots, seed, xla,
                              prune_sparsity, prune_schedule, qat):
    """The `TrainConfig` of the training options."""
    from link_sim.config import CHANNEL_MODELS

    channel_list = _parse_list(channels, "--channels", str)
    for name in channel_list:
        if name not in CHANNEL_MODELS:
            raise click.BadParameter(f"unknown channel model {name!r}", param_hint="--channels")
    from deeprx_tf.training import TrainConfig

    return TrainConfig(
        steps=steps, batch_size=batch_size, steps_per_epoch=steps_per_epoch,
        learning_rate=learning_rate, warmup_steps=warmup_steps, seed=seed,
        validation_sinr_db=_parse_list(validation_sinr, "--validation-sinr"),
        validation_slots=validation_slots, dmrs_symbols=_parse_list(dmrs_symbols, "--dmrs-symbols", int),
        channel_models=channel_list, xla=xla, prune_sparsity=prune_sparsity,
        prune_schedule=_parse_range(prune_schedule, "--prune-schedule"), qat=qat)


def run_training(model_config, scenario, *, strategy, out_dir, overwrite, what="DeepRx",
                 init_from=None, compile_trainee=None, card_extra=None, **options) -> dict:
    """Check the training options, prepare --out (resume, --overwrite) and run `train_deeprx`."""
    import shutil

    train_config = train_config_from_options(**options)
    steps = train_config.steps
    from deeprx_tf.training import train_deeprx
    from link_sim.results import prepare_output_dir, read_json

    meta = out_dir / "model.json"
    if meta.is_file() and read_json(meta, "checkpoint").get("card", {}).get("complete"):
        if not overwrite:
            raise FileExistsError(f"{meta} is a finished checkpoint; pass --overwrite to train anew "
                                  "or choose another --out folder")
        shutil.rmtree(out_dir / "backup", ignore_errors=True)
    out = prepare_output_dir(out_dir, (), overwrite=True)
    click.echo(f"training {what} ({model_config.size_vs_paper():.3f} x paper FLOPs/RE, "
               f"{model_config.flops_per_slot(scenario.num_subcarriers) / 1e6:.1f} MFLOP per "
               f"{scenario.num_subcarriers}-subcarrier slot) for {steps} steps into {out}", err=True)
    card = train_deeprx(model_config, scenario, train_config, out, strategy=strategy,
                        command=" ".join(["deeprx"] + sys.argv[1:]), init_from=init_from,
                        compile_trainee=compile_trainee, card_extra=card_extra)
    pruned = (f"sparsity {card['pruning']['sparsity_reached']:.1%}; " if card.get("pruning") else "")
    click.echo(f"validation Geometric Mean BER {card['validation']['val_gmber']:.3f}; {pruned}"
               f"wrote {out / 'model.json'}")
    return card


def _split_options(options: dict) -> tuple[dict, dict]:
    """Options of a training command as (scenario options, training options)."""
    scenario_keys = {"config_path", "channel", "num_prb", "num_rx_ant", "num_tx_ant", "num_layers",
                     "mcs_index", "num_dmrs_symbols", "speed", "delay_spread", "sinr_range", "sir"}
    return ({k: v for k, v in options.items() if k in scenario_keys},
            {k: v for k, v in options.items() if k not in scenario_keys})


@cli.command()
@click.option("--preset", help="Architecture: 'paper' or a width multiplier like 'x0.25' (default).")
@click.option("--model-config", "model_config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Architecture as DeepRxConfig JSON.")
@click.option("--flops", type=click.FloatRange(min=0, min_open=True),
              help="Pick the width whose FLOPs per slot (of this scenario's grid) come closest.")
@_INIT_FROM
@training_options
def train(preset, model_config_path, flops, init_from, **options):
    """Train a DeepRx on the scenario's link with Keras fit.

    Saves model.json (architecture, scenario, model card) and weights.h5
    after every epoch, TensorBoard logs in --out/logs, and resumes an
    interrupted run from its last epoch.
    """
    scenario_opts, training = _split_options(options)
    scenario = scenario_from_options(**scenario_opts)
    model_config = model_config_from_options(preset, model_config_path, flops, scenario, init_from)
    run_training(model_config, scenario, init_from=init_from, **training)


@cli.command()
@click.option("--teacher", type=click.Path(path_type=Path), required=True,
              help="Checkpoint of the teacher DeepRx.")
@click.option("--student-preset", help="Student architecture: a width multiplier like 'x0.125'.")
@click.option("--student-flops", type=click.FloatRange(min=0, min_open=True),
              help="Or the student's FLOPs per slot of this scenario's grid.")
@click.option("--student-model-config", type=click.Path(dir_okay=False, path_type=Path),
              help="Or the student architecture as DeepRxConfig JSON.")
@click.option("--alpha", type=click.FloatRange(min=0), default=5e5, show_default=True,
              help="Weight of the student's own loss: L = alpha * BCE + KL (paper eq. 2).")
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=3.0,
              show_default=True, help="Softening temperature T of the bit probabilities.")
@click.option("--t2/--no-t2", "scale_by_t2", default=False, show_default=True,
              help="Multiply the KL term by T^2 (Hinton et al.; the paper does not).")
@click.option("--sobolev-weight", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Also match the teacher's input gradients (Sobolev training) with this weight.")
@_INIT_FROM
@training_options
def distill(teacher, student_preset, student_flops, student_model_config, init_from, alpha,
            temperature, scale_by_t2, sobolev_weight, **options):
    """Train a small DeepRx student against a teacher checkpoint (knowledge distillation).

    Same data, schedule, validation and checkpoints as 'deeprx train'; the
    model card records the teacher, alpha, T and the data seed. With
    --init-from and --qat, the student starts from a trained checkpoint and
    learns fake int8 with the teacher's LLRs as targets (quantization-aware
    distillation; give the float checkpoint as both, and a small --alpha).
    """
    scenario_opts, training = _split_options(options)
    scenario = scenario_from_options(**scenario_opts)
    if (student_preset is None and student_flops is None and student_model_config is None
            and init_from is None):
        raise click.UsageError("give the student's size: --student-preset, --student-flops, "
                               "--student-model-config or --init-from")
    student_config = model_config_from_options(
        student_preset, student_model_config, student_flops, scenario, init_from,
        names=("--student-preset", "--student-model-config", "--student-flops"))
    from distill.procedure import distillation_hooks

    compile_trainee, card_extra = distillation_hooks(teacher, scenario, alpha=alpha,
                                                     temperature=temperature, scale_by_t2=scale_by_t2,
                                                     sobolev_weight=sobolev_weight)
    run_training(student_config, scenario, init_from=init_from, compile_trainee=compile_trainee,
                 card_extra=card_extra, what="DeepRx student", **training)


#: `distill.experiments.STEPS`, spelled out so that ``--help`` does not import TensorFlow.
_SWEEP_STEPS = ("student_size", "teacher_size", "alpha", "temperature", "final")


@cli.command()
@click.option("--student-widths", default="0.0625,0.125,0.25", show_default=True,
              help="Step student_size (Fig. 3): widths (x the paper model) trained from scratch.")
@click.option("--student-width", type=click.FloatRange(min=0, min_open=True), default=0.125,
              show_default=True, help="The student of the later steps.")
@click.option("--teacher-widths", default="0.25,0.5", show_default=True,
              help="Step teacher_size (Fig. 4): teacher widths.")
@click.option("--alphas", default="0.1,1,10,500000", show_default=True,
              help="Step alpha (Table III): alpha grid.")
@click.option("--temperatures", default="1,3,10", show_default=True,
              help="Step temperature (Fig. 5): T grid, at the best alpha.")
@click.option("--alpha", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="alpha of the teacher_size step.")
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=3.0,
              show_default=True, help="T of the teacher_size and alpha steps.")
@click.option("--sinr", "sinr_grid", default=_DEFAULT_SINR_GRID, show_default=True,
              help="Step final (Fig. 6): SINR grid [dB], START:STOP:STEP or A,B,C.")
@click.option("--final-dmrs", default="1,2", show_default=True, help="Step final: DMRS symbol counts.")
@click.option("--final-batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--final-max-mc-iter", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--target-ber", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=1e-3,
              show_default=True, help="Step final: BER at which SINR gains are read.")
@click.option("--step", "only_steps", multiple=True, type=click.Choice(_SWEEP_STEPS),
              help="Run only these steps (repeat; default: all, in order).")
@training_options
def sweep(student_widths, student_width, teacher_widths, alphas, temperatures, alpha, temperature,
          sinr_grid, final_dmrs, final_batch_size, final_max_mc_iter, target_ber, only_steps, **options):
    """The paper's four-step KD procedure: student size, teacher size, alpha and T, final BER.

    Every run is a checkpoint under --out/runs, trained with the same
    options (so KD and scratch students differ by the teacher alone) and
    reused when finished: run the same command again to resume. Each step
    writes STEP.json and STEP.png into --out; the final step also
    final_dmrsN/ (results.json, ber.png, ber.csv).
    """
    from link_sim.sweep import parse_sinr_grid

    scenario_opts, training = _split_options(options)
    scenario = scenario_from_options(**scenario_opts)
    strategy, out_dir = training.pop("strategy"), training.pop("out_dir")
    if training.pop("overwrite"):
        raise click.UsageError("deeprx sweep reuses finished runs and resumes; to start anew, "
                               "choose another --out folder")
    train_config = train_config_from_options(**training)
    from distill.experiments import KDExperiment, KDPlan

    plan = KDPlan(student_widths=_parse_list(student_widths, "--student-widths"),
                  student_width=student_width, teacher_widths=_parse_list(teacher_widths, "--teacher-widths"),
                  alphas=_parse_list(alphas, "--alphas"), temperatures=_parse_list(temperatures, "--temperatures"),
                  alpha=alpha, temperature=temperature, final_sinr_db=tuple(parse_sinr_grid(sinr_grid)),
                  final_dmrs_symbols=_parse_list(final_dmrs, "--final-dmrs", int),
                  final_batch_size=final_batch_size, final_max_mc_iter=final_max_mc_iter,
                  target_ber=target_ber)
    experiment = KDExperiment(plan, scenario, train_config, out_dir, strategy=strategy,
                              log=lambda message: click.echo(message, err=True))
    results = experiment.run(only_steps or _SWEEP_STEPS)
    for step, result in results.items():
        if step == "final":
            for dmrs, entries in result["dmrs"].items():
                line = ", ".join(f"{name} {e['geometric_mean_ber']:.3f}" for name, e in entries.items())
                gain = entries["KD student"]["gain_db_vs_scratch_student"]
                click.echo(f"final, {dmrs} DMRS: Geometric Mean BER {line}; KD gain at BER "
                           f"{target_ber:g}: " + (f"{gain:.2f} dB" if gain is not None else "not reached"))
        else:
            best = min(result["rows"], key=lambda r: r["val_gmber"])
            click.echo(f"{step}: best {best['run']} (validation Geometric Mean BER {best['val_gmber']:.3f})")
    click.echo(f"wrote {', '.join(f'{step}.json' for step in results)} into {out_dir}")

#: Grid of the paper's DeepRx: 26 PRB.
_PAPER_NUM_PRB = 26


@cli.command()
@click.option("--checkpoint", type=click.Path(path_type=Path), help="DeepRx checkpoint folder to profile.")
@click.option("--preset", help="Or an architecture: 'paper' or a width multiplier like 'x0.25'.")
@click.option("--num-prb", type=click.IntRange(min=1),
              help="Grid width in PRBs (default: the checkpoint's scenario; 26 = 312 subcarriers "
                   "for --preset, as in the paper).")
@click.option("--num-rx-ant", type=click.IntRange(min=1), default=2, show_default=True,
              help="Receive antennas of a --preset model.")
@click.option("--processors", "processors_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Extra processors (JSON or CSV); an entry replaces a built-in one of the same name.")
@click.option("--lifecycle-processor", default="Coral Edge TPU", show_default=True,
              help="Processor whose metric (0) energy is the lifecycle's inference energy.")
@click.option("--inference-energy", type=click.FloatRange(min=0, min_open=True),
              help="Inference energy of the lifecycle [J] instead of metric (0).")
@click.option("--train-energy-per-step", type=click.FloatRange(min=0, min_open=True), default=20.0,
              show_default=True, help="Training energy per step [J] (the paper's figure).")
@click.option("--train-steps", type=click.IntRange(min=1), default=250_000, show_default=True,
              help="Training steps of the lifecycle.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=400.0, show_default=True,
              help="Inferences per second in deployment.")
@click.option("--measure", is_flag=True,
              help="Also measure energy with CodeCarbon (base-power method; takes minutes).")
@click.option("--measure-inferences", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--measure-steps", type=click.IntRange(min=1), default=20, show_default=True,
              help="Training steps measured (batch 16 from the link).")
@click.option("--idle-windows", type=click.IntRange(min=1), default=5, show_default=True,
              help="Idle windows of 2 s whose median is the base power.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/profile"), show_default=True, help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Replace existing results in --out.")
def profile(checkpoint, preset, num_prb, num_rx_ant, processors_path, lifecycle_processor,
            inference_energy, train_energy_per_step, train_steps, rate, measure, measure_inferences,
            measure_steps, idle_windows, out_dir, overwrite):
    """FLOPs per slot, energy per processor and block, training vs inference energy.

    Counts FLOPs with the TensorFlow profiler (cross-checked analytically),
    turns them into energy per inference with metric (0) for each
    processor, optionally measures energy with CodeCarbon, and writes
    profile.json, flops_by_layer.csv, energy_by_block.png and lifecycle.png.
    """
    from link_sim.results import prepare_output_dir

    if (checkpoint is None) == (preset is None):
        raise click.UsageError("give exactly one of --checkpoint and --preset")
    from link_sim.config import LinkConfig
    from profiling.processors import merge_processors, paper_processors, read_processors
    from profiling.report import PROFILE_OUTPUTS, profile_model

    processors = paper_processors()
    if processors_path is not None:
        processors = merge_processors(processors, read_processors(processors_path))
    if lifecycle_processor not in [p.name for p in processors]:
        raise click.BadParameter(f"unknown processor {lifecycle_processor!r}; choose from "
                                 f"{', '.join(p.name for p in processors)}", param_hint="--lifecycle-processor")
    out = prepare_output_dir(out_dir, PROFILE_OUTPUTS, overwrite)
    if checkpoint is not None:
        from deeprx_tf.checkpoint import load_checkpoint

        loaded = load_checkpoint(checkpoint)
        model, config = loaded.model, loaded.config
        link = loaded.link_config.replace(num_prb=num_prb) if num_prb else loaded.link_config
        about = {"checkpoint": str(checkpoint)}
    else:
        from deeprx_tf.config import DeepRxConfig
        from deeprx_tf.model import build_deeprx

        link = LinkConfig(num_prb=num_prb or _PAPER_NUM_PRB, num_rx_ant=num_rx_ant)
        config = DeepRxConfig.preset(preset, num_rx_ant=num_rx_ant,
                                     num_bits_per_symbol=link.num_bits_per_symbol)
        model = build_deeprx(config)
        about = {"preset": preset}
    input_shape = (14, link.num_subcarriers, config.num_input_channels)
    about.update(num_subcarriers=link.num_subcarriers, num_ofdm_symbols=14,
                 num_rx_ant=config.num_rx_ant, size_vs_paper=config.size_vs_paper(),
                 parameters=int(model.count_params()))

    def measure_energy_now():
        from profiling.measure import inference_workload, measure_energy, training_workload

        click.echo(f"measuring {measure_inferences} inferences and {measure_steps} training steps "
                   f"(base power: {idle_windows} idle windows of 2 s) ...", err=True)
        results = {"inference": measure_energy(inference_workload(model, input_shape, measure_inferences),
                                               measure_inferences, idle_windows=idle_windows)}
        import tf_keras as keras

        from deeprx_tf.dataset import LinkBatchMaker
        from deeprx_tf.model import build_deeprx
        from deeprx_tf.losses import masked_bce

        trainee = build_deeprx(config)
        trainee.compile(keras.optimizers.Adam(1e-3), loss=masked_bce)
        batch = LinkBatchMaker(link)(16, [20.0] * 16)
        results["training_step"] = measure_energy(training_workload(trainee, batch, measure_steps),
                                                  measure_steps, idle_windows=idle_windows)
        return results

    result = profile_model(model, input_shape, processors, out, lifecycle_processor,
                           train_energy_per_step_j=train_energy_per_step, train_steps=train_steps,
                           inference_energy_j=inference_energy, inference_rate=rate,
                           measure=measure_energy_now if measure else None, about=about)
    flops = result["flops"]
    click.echo(f"{flops['total_flops'] / 1e9:.3f} GFLOP per inference ({flops['macs'] / 1e9:.3f} GMAC in "
               f"convolutions) on a 14 x {link.num_subcarriers} grid; profiler and analytic counts "
               + ("agree on every conv layer" if not flops["analytic_mismatches"]
                  else f"DIFFER on {', '.join(flops['analytic_mismatches'])}"))
    top = sorted(flops["by_block"].items(), key=lambda kv: -kv[1])[:3]
    click.echo("top blocks: " + ", ".join(f"{b} {f / flops['total_flops']:.1%}" for b, f in top))
    for name, energy in result["energy_per_inference_j"]["total"].items():
        click.echo(f"  {name:<18} {energy * 1e3:10.3f} mJ per inference (metric 0)")
    for name, m in result["measured"].items():
        click.echo(f"  measured {name}: {m['energy_per_item_j'] * 1e3:.3f} mJ "
                   f"(relative power {m['relative_power_w']:.2f} W; {m['power_source']})")
    life = result["lifecycle"]
    click.echo(f"lifecycle: curves cross at {life['crossing']['inferences']:.3g} inferences "
               f"({life['crossing']['duration_at_rate']} at {rate:g}/s); total inference energy "
               f"equals training after {life['break_even']['inferences']:.3g} "
               f"({life['break_even']['duration_at_rate']})")
    click.echo(f"wrote {', '.join(str(out / name) for name in PROFILE_OUTPUTS)}")


#: `deeprx_tf.export.EXPORT_FORMATS` and `CALIBRATION_METHODS`, spelled out so that ``--help``
#: does not import TensorFlow.
_EXPORT_FORMATS = ("float", "int8", "int16x8", "edgetpu")
_CALIBRATION_METHODS = ("batch-mean", "minmax", "learned")


@cli.command()
@click.option("--checkpoint", type=click.Path(path_type=Path),
              help="DeepRx checkpoint folder (default: the shipped model).")
@click.option("--format", "fmt", type=click.Choice(_EXPORT_FORMATS), default="int8", show_default=True,
              help="float: float32; int8: full-integer int8 (int8 input and output); int16x8: int16 "
                   "activations, int8 weights (CPU only); edgetpu: int8 with dilated convolutions "
                   "rewritten as undilated ones (all Edge TPU ops).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The .tflite file to write; its .json (I/O quantization, op report) goes beside it.")
@scenario_options
@click.option("--calibration-slots", type=click.IntRange(min=1), default=128, show_default=True,
              help="Slots from the link (SINR uniform in the scenario's range) that calibrate int8.")
@click.option("--calibration", type=click.Choice(_CALIBRATION_METHODS), default="batch-mean",
              show_default=True,
              help="int8/edgetpu activation ranges: batch-mean, each tensor's min and max averaged "
                   "over pairs of slots; minmax, the TFLite converter's over all slots; learned, "
                   "those a QAT checkpoint (deeprx train --qat) learned in training.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the calibration slots.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out and its .json.")
def export(checkpoint, fmt, out, calibration_slots, calibration, seed, overwrite, **scenario):
    """Export a DeepRx checkpoint to TFLite for one scenario's grid.

    The scenario (grid size, calibration data) is the checkpoint's unless
    --config or the scenario options change it. Writes FILE.tflite and
    FILE.json; folds the batch normalizations away and, for --format
    edgetpu, undilates the convolutions, checking each rewrite against the
    original model; lists every op against the Edge TPU's supported ops and
    runs edgetpu_compiler where it is installed. A QAT checkpoint
    (deeprx train --qat) exports its float weights, trained in that folded
    int8 graph.
    """
    from deeprx_tf.checkpoint import check_fits_scenario, load_checkpoint
    from deeprx_tf.export import export_deeprx, sidecar_path
    from deeprx_tf.shipped import shipped_checkpoint

    source = checkpoint if checkpoint is not None else shipped_checkpoint()
    loaded = load_checkpoint(source)
    link = scenario_from_options(**scenario, base=loaded.link_config)
    check_fits_scenario(loaded.config, link)
    start = time.monotonic()
    info = export_deeprx(loaded.model, fmt, out, link, num_calibration_slots=calibration_slots,
                         seed=seed, overwrite=overwrite, metadata={"checkpoint": str(source)},
                         qat_model=loaded.qat_model, calibration=calibration, model_config=loaded.config)
    io = f"input {info['input']['dtype']} {info['input']['shape']}, output {info['output']['dtype']}"
    if info["input"]["dtype"] != "float32":
        io += (f" (input scale {info['input']['scale']:.4g}, output scale {info['output']['scale']:.4g} "
               f"zero point {info['output']['zero_point']})")
    quantization = info["quantization"]
    if "calibration" in info:
        quantization += f", {info['calibration']['ranges']} ranges"
    click.echo(f"wrote {out} ({info['bytes'] / 1e6:.2f} MB, {io}, {quantization}) "
               f"in {time.monotonic() - start:.0f} s")
    report = info["edgetpu_op_report"]
    summary = f"Edge TPU ops: {report['num_mappable']} of {report['num_ops']} mappable"
    if report["first_unmappable"] is not None:
        first = report["ops"][report["first_unmappable"]]
        summary += (f"; the first that is not is op {first['index']} ({first['op']}: "
                    f"{'; '.join(first['problems'])})" + ("; use --format edgetpu" if fmt != "edgetpu" else ""))
    click.echo(summary)
    if "batch_norm_fold" in info:
        fold = info["batch_norm_fold"]
        click.echo(f"folded {len(fold['into_convolutions']) + len(fold['as_depthwise'])} batch "
                   f"normalizations ({len(fold['into_convolutions'])} into the convolution before them, "
                   f"{len(fold['as_depthwise'])} as 1x1 depthwise convolutions); largest logit difference "
                   f"{fold['max_abs_diff']:.2g} (logits up to {fold['max_abs_logit']:.3g})")
    if "dilation_rewrite" in info:
        rewrite = info["dilation_rewrite"]
        click.echo(f"rewrote {len(rewrite['layers'])} dilated convolutions; largest logit difference "
                   f"{rewrite['max_abs_diff']:.2g} (logits up to {rewrite['max_abs_logit']:.3g})")
    if "edgetpu_compiler" in info:
        compiler = info["edgetpu_compiler"]
        click.echo(compiler["note"] if not compiler["available"] else
                   f"edgetpu_compiler: exit {compiler['returncode']}, {compiler['ops_on_edgetpu']} ops on "
                   f"the Edge TPU, {compiler['ops_on_cpu']} on the CPU")
    click.echo(f"wrote {sidecar_path(out)}")

def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``deeprx`` console script."""
    try:
        cli.main(args=argv, prog_name="deeprx", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"deeprx: error: {exc.format_message()}", err=True)
        sys.exit(2)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("deeprx: interrupted; finished results were kept", err=True)
        sys.exit(130)
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError) as exc:
        click.echo(f"deeprx: error: {exc}", err=True)
        sys.exit(2)
