"""``deeprx train``: train a DeepRx on a scenario's link."""

from __future__ import annotations

from pathlib import Path

import click

from deeprx_cli.common import (FiniteFloatRange, scenario_from_options, split_scenario,
                                  uses_tensorflow)
from deeprx_cli.train_options import INIT_FROM, model_config_from_options, run_training, training_options


@click.command()
@click.option("--preset", help="Architecture: 'paper' or a width multiplier like 'x0.25' (default).")
@click.option("--model-config", "model_config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Architecture as DeepRxConfig JSON (antennas, bits and layers it omits: the scenario's).")
@click.option("--flops", type=FiniteFloatRange(min=0, min_open=True),
              help="Pick the width whose FLOPs per slot (of this scenario's grid) come closest.")
@INIT_FROM
@click.option("--keep-epochs", is_flag=True,
              help="Also keep each epoch's checkpoint, in --out/epochs/NNN (for deeprx average).")
@training_options
@uses_tensorflow
def train(preset, model_config_path, flops, init_from, keep_epochs, **options):
    """Train a DeepRx on the scenario's link with Keras fit.

    Saves model.json (architecture, scenario, model card) and weights.h5
    after every epoch, TensorBoard logs in --out/logs, and resumes an
    interrupted run from its last epoch.
    """
    scenario_opts, training = split_scenario(options)
    scenario = scenario_from_options(**scenario_opts)
    model_config = model_config_from_options(preset, model_config_path, flops, scenario, init_from)
    run_training(model_config, scenario, init_from=init_from, keep_epochs=keep_epochs, **training)
