"""``deeprx simulate``: compare receivers by BER/BLER over SINR on one scenario."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from deeprx_cli.common import (DEFAULT_SINR_GRID, FiniteFloatRange, scenario_from_options,
                                  scenario_options, uses_tensorflow)
from link_sim.montecarlo import DEFAULTS, GRAPH_MODES, MonteCarloSettings

#: Files `deeprx simulate` writes into its output folder.
SIMULATE_OUTPUTS = ("results.json", "ber.png", "ber.csv")


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
            # the link's DMRS count's batch-norm statistics; the warnings above are the receiver's
            specs[name] = lambda tx, c=loaded: DeepRxReceiver(
                tx, c.model_for(scenario.num_dmrs_symbols), config=c.config)
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


@click.command()
@scenario_options
@click.option("--sinr", "sinr_grid", default=DEFAULT_SINR_GRID, show_default=True,
              help="SINR grid [dB]: START:STOP:STEP (STOP included) or a list A,B,C.")
@click.option("--receiver", "receivers", multiple=True, default=("lmmse", "perfect-csi", "deeprx"),
              show_default=True,
              help="Receiver to compare (repeat): lmmse, perfect-csi, deeprx (the shipped model "
                   "or --checkpoint), deeprx:CHECKPOINT (a folder or a shipped model's name; any "
                   "number of them), tflite:FILE (an exported model run with LiteRT; any number of them).")
@click.option("--checkpoint", type=click.Path(path_type=Path),
              help="DeepRx checkpoint folder or shipped model name for --receiver deeprx (default: 'default').")
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULTS.batch_size, show_default=True,
              help="Slots per Monte Carlo batch.")
@click.option("--max-mc-iter", type=click.IntRange(min=1), default=DEFAULTS.max_mc_iter, show_default=True,
              help="Largest number of batches per SINR point.")
@click.option("--target-block-errors", type=click.IntRange(min=1),
              default=DEFAULTS.num_target_block_errors, show_default=True,
              help="A SINR point is done after this many transport block errors.")
@click.option("--early-stop/--no-early-stop", default=DEFAULTS.early_stop, show_default=True,
              help="Skip the rest of a curve after an error-free SINR point.")
@click.option("--target-ber", type=FiniteFloatRange(0, 1, min_open=True, max_open=True),
              default=DEFAULTS.target_ber,
              show_default=True, help="BER at which SINRs and gains are read (uncoded BER).")
@click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True, help="Random seed.")
@click.option("--graph-mode", type=click.Choice(GRAPH_MODES), default=DEFAULTS.graph_mode,
              show_default=True, help="TensorFlow execution mode of the link.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/simulate"), show_default=True, help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Replace existing results in --out (or --write-config's file).")
@click.option("--write-config", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the scenario the options above give, as the JSON --config reads, to this "
                   "file and exit (a template to edit).")
@uses_tensorflow
def simulate(sinr_grid, receivers, checkpoint, batch_size, max_mc_iter, target_block_errors, early_stop,
             target_ber, seed, graph_mode, out_dir, overwrite, write_config, **scenario):
    """Compare receivers by BER/BLER over SINR on one PUSCH scenario.

    Writes results.json (per receiver and SINR point: uncoded BER on the
    coded bits, coded BER, BLER, bits and blocks simulated; Geometric Mean
    BER per receiver), ber.csv and ber.png into --out.
    """
    from link_sim.results import prepare_output_dir

    scenario = scenario_from_options(**scenario)
    if write_config is not None:
        if write_config.exists() and not overwrite:
            raise click.UsageError(f"{write_config} exists; pass --overwrite to replace it")
        scenario.to_json(write_config)
        click.echo(f"wrote {write_config}")
        return
    # what costs nothing is checked before anything is printed or simulated
    MonteCarloSettings(batch_size, max_mc_iter, target_block_errors, early_stop, seed, graph_mode, target_ber)
    scenario.check_batch_size(batch_size, "--batch-size")

    from link_sim.sweep import parse_sinr_grid

    grid = parse_sinr_grid(sinr_grid)
    if graph_mode == "xla" and any(name.startswith("tflite:") for name in receivers):
        raise click.BadParameter("a tflite: receiver runs in LiteRT and cannot be compiled with XLA; "
                                 "use graph or eager", param_hint="--graph-mode")
    specs = receiver_specs(receivers, checkpoint, scenario, grid)
    out = prepare_output_dir(out_dir, SIMULATE_OUTPUTS, overwrite)  # the last check: it creates --out

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
