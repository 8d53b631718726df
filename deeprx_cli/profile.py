"""``deeprx profile``: FLOPs, energy per processor and block, training against inference energy."""

from __future__ import annotations

from pathlib import Path

import click

from deeprx_cli.common import FiniteFloatRange, uses_tensorflow
from profiling.lifecycle import DEFAULT_INFERENCE_RATE, PAPER_TRAIN_ENERGY_PER_STEP_J, PAPER_TRAIN_STEPS
from profiling.measure import DEFAULT_IDLE_WINDOWS, IDLE_WINDOW_S



@click.command()
@click.option("--checkpoint", type=click.Path(path_type=Path),
              help="DeepRx checkpoint folder (or shipped model name) to profile.")
@click.option("--preset", help="Or an architecture: 'paper' or a width multiplier like 'x0.25'.")
@click.option("--num-prb", type=click.IntRange(min=1),
              help="Grid width in PRBs (default: the checkpoint's scenario; 26 = 312 subcarriers "
                   "for --preset, as in the paper).")
@click.option("--num-rx-ant", type=click.IntRange(min=1), default=2, show_default=True,
              help="Receive antennas of a --preset model.")
@click.option("--num-layers", type=click.IntRange(min=1), default=1, show_default=True,
              help="MIMO layers of a --preset model (as many transmit antennas).")
@click.option("--processors", "processors_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Extra processors (JSON or CSV); an entry replaces a built-in one of the same name.")
@click.option("--lifecycle-processor", default="Coral Edge TPU", show_default=True,
              help="Processor whose metric (0) energy is the lifecycle's inference energy.")
@click.option("--inference-energy", type=FiniteFloatRange(min=0, min_open=True),
              help="Inference energy of the lifecycle [J] instead of metric (0).")
@click.option("--train-energy-per-step", type=FiniteFloatRange(min=0, min_open=True),
              default=PAPER_TRAIN_ENERGY_PER_STEP_J,
              show_default=True, help="Training energy per step [J] (the paper's figure).")
@click.option("--train-steps", type=click.IntRange(min=1), default=PAPER_TRAIN_STEPS, show_default=True,
              help="Training steps of the lifecycle.")
@click.option("--rate", type=FiniteFloatRange(min=0, min_open=True), default=DEFAULT_INFERENCE_RATE,
              show_default=True,
              help="Inferences per second in deployment.")
@click.option("--measure", is_flag=True,
              help="Also measure energy with CodeCarbon (base-power method; takes minutes).")
@click.option("--measure-inferences", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--measure-steps", type=click.IntRange(min=1), default=20, show_default=True,
              help="Training steps measured (batch 16 from the link).")
@click.option("--idle-windows", type=click.IntRange(min=1), default=DEFAULT_IDLE_WINDOWS,
              show_default=True, help=f"Idle windows of {IDLE_WINDOW_S:g} s whose median is the base power.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/profile"), show_default=True, help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Replace existing results in --out.")
@uses_tensorflow
def profile(checkpoint, preset, num_prb, num_rx_ant, num_layers, processors_path, lifecycle_processor,
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
                                 f"{', '.join(p.name for p in processors)}",
                                 param_hint="--lifecycle-processor")
    if checkpoint is not None:
        from deeprx_tf.checkpoint import load_checkpoint

        loaded = load_checkpoint(checkpoint)
        model, config = loaded.model, loaded.config
        link = loaded.link_config.replace(num_prb=num_prb) if num_prb else loaded.link_config
        about = {"checkpoint": str(checkpoint)}
    else:
        from deeprx_tf.config import DeepRxConfig, link_dimensions
        from deeprx_tf.model import build_deeprx

        from deeprx_tf.config import PAPER_NUM_PRB

        link = LinkConfig(num_prb=num_prb or PAPER_NUM_PRB, num_rx_ant=num_rx_ant, num_tx_ant=num_layers,
                          num_layers=num_layers)
        config = DeepRxConfig.preset(preset, **link_dimensions(link))
        model = build_deeprx(config)
        about = {"preset": preset}
    out = prepare_output_dir(out_dir, PROFILE_OUTPUTS, overwrite)  # the last check: it creates --out
    input_shape = (link.num_ofdm_symbols, link.num_subcarriers, config.num_input_channels)
    about.update(num_subcarriers=link.num_subcarriers, num_ofdm_symbols=link.num_ofdm_symbols,
                 num_rx_ant=config.num_rx_ant, num_layers=config.num_layers, size_vs_paper=config.size_vs_paper(),
                 parameters=int(model.count_params()))

    def measure_energy_now():
        from profiling.measure import TRAINING_BATCH_SLOTS, measure_deeprx_energy

        click.echo(f"measuring {measure_inferences} inferences and {measure_steps} training steps of "
                   f"{TRAINING_BATCH_SLOTS} slots (base power: {idle_windows} idle windows of "
                   f"{IDLE_WINDOW_S:g} s) ...", err=True)
        return measure_deeprx_energy(model, config, link, measure_inferences, measure_steps, idle_windows)

    result = profile_model(model, input_shape, processors, out, lifecycle_processor,
                           train_energy_per_step_j=train_energy_per_step, train_steps=train_steps,
                           inference_energy_j=inference_energy, inference_rate=rate,
                           measure=measure_energy_now if measure else None, about=about)
    flops = result["flops"]
    click.echo(f"{flops['total_flops'] / 1e9:.3f} GFLOP per inference ({flops['macs'] / 1e9:.3f} GMAC in "
               f"convolutions) on a {link.num_ofdm_symbols} x {link.num_subcarriers} grid"
               + (f" of {config.num_layers} layers (all received at once)" if config.num_layers > 1 else "")
               + "; profiler and analytic counts "
               + ("agree on every conv layer" if not flops["analytic_mismatches"]
                  else f"DIFFER on {', '.join(flops['analytic_mismatches'])}"))
    top = sorted(flops["by_block"].items(), key=lambda kv: -kv[1])[:3]
    click.echo("top blocks: " + ", ".join(f"{b} {f / flops['total_flops']:.1%}" for b, f in top))
    for name, energy in result["energy_per_inference_j"]["total"].items():
        click.echo(f"  {name:<18} {energy * 1e3:10.3f} mJ per inference (metric 0)")
    for name, m in result["measured"].items():
        if not m["reliable"]:
            click.echo(f"  measured {name}: unreliable, the workload drew {m['relative_power_w']:.2f} W "
                       f"relative to the idle baseline (was the CPU busy?); {m['power_source']}")
            continue
        click.echo(f"  measured {name}: {m['energy_per_item_j'] * 1e3:.3f} mJ "
                   f"(relative power {m['relative_power_w']:.2f} W; {m['power_source']})")
    life = result["lifecycle"]
    click.echo(f"lifecycle: curves cross at {life['crossing']['inferences']:.3g} inferences "
               f"({life['crossing']['duration_at_rate']} at {rate:g}/s); total inference energy "
               f"equals training after {life['break_even']['inferences']:.3g} "
               f"({life['break_even']['duration_at_rate']})")
    click.echo(f"wrote {', '.join(str(out / name) for name in PROFILE_OUTPUTS)}")
