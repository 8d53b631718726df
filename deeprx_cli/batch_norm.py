"""``deeprx batch-norm-statistics`` and ``deeprx average``: checkpoints made from checkpoints, no training."""

from __future__ import annotations

from pathlib import Path

import click

from deeprx_cli.common import uses_tensorflow
from deeprx_tf.train_config import BATCH_NORM_SEED, BATCH_NORM_SLOTS


def _statistics_options(command):
    command = click.option("--overwrite", is_flag=True, help="Replace a checkpoint already in --out.")(command)
    command = click.option("--seed", type=click.IntRange(min=0), default=BATCH_NORM_SEED, show_default=True,
                           help="Data seed of the statistics' slots.")(command)
    command = click.option("--slots", type=click.IntRange(min=16), default=BATCH_NORM_SLOTS, show_default=True,
                           help="Training slots per DMRS count that the batch-norm statistics are "
                                "estimated from.")(command)
    return click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
                        help="Checkpoint folder to write.")(command)


def _save_with_statistics(checkpoint, out: Path, slots: int, seed: int, overwrite: bool,
                          moving: bool = False) -> None:
    """Estimate ``checkpoint``'s batch-norm statistics per DMRS count (with ``moving``, its moving
    statistics too) and save it into ``out``."""
    from deeprx_tf.checkpoint import save_checkpoint
    from deeprx_tf.folders import BATCH_NORM_STATISTICS, MODEL_JSON, QAT_WEIGHTS, WEIGHTS
    from link_sim.results import prepare_output_dir

    prepare_output_dir(out, (MODEL_JSON, WEIGHTS, QAT_WEIGHTS, BATCH_NORM_STATISTICS), overwrite, lock=False)
    updated = checkpoint.with_batch_norm_statistics(slots, seed, moving=moving)
    save_checkpoint(out, updated.model, updated.config, updated.link_config, updated.card,
                    qat_model=updated.qat_model, batch_norm_statistics=updated.batch_norm_statistics)
    stats = updated.batch_norm_statistics
    used = max(stats.info["slots_per_dmrs_count"].values())  # whole batches
    click.echo(f"wrote {out}: batch-norm statistics for {' and '.join(map(str, stats.dmrs_symbols))} DMRS "
               f"symbol(s), {used} training slots each (seed {seed})")


@click.command("batch-norm-statistics")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@_statistics_options
@uses_tensorflow
def batch_norm_statistics(checkpoint, out, slots, seed, overwrite):
    """Estimate a checkpoint's batch-norm statistics per DMRS count and save them with it.

    CHECKPOINT is a folder or a shipped model's name. Training draws each
    batch with one DMRS count, so each batch normalization normalizes one
    pilot pattern at a time, while its moving statistics mix both; from the
    checkpoint's training scenario (its channel models and SINR range),
    --slots slots of each DMRS count give the statistics that
    `deeprx simulate`, `deeprx export` and DeepRxReceiver then use for a
    link's DMRS count. The weights are not changed. `deeprx train` saves
    them with every checkpoint it writes; this adds them to an older one.
    """
    from deeprx_tf.checkpoint import load_checkpoint

    _save_with_statistics(load_checkpoint(checkpoint), out, slots, seed, overwrite)


@click.command("average")
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(path_type=Path))
@_statistics_options
@uses_tensorflow
def average(checkpoints, out, slots, seed, overwrite):
    """Average the weights of checkpoints of one run, with batch-norm statistics for the average.

    CHECKPOINTS (at least two, of one architecture and scenario: typically
    a run's last epochs) are averaged weight by weight (Izmailov et al.,
    2018); the average's batch-norm statistics per DMRS count are then
    estimated as `deeprx batch-norm-statistics` does, and its moving
    statistics (what a KD teacher or a QAT fine-tune starts from) from the
    same slots of every DMRS count together: averaged moving statistics do
    not describe the averaged weights.
    """
    from deeprx_tf.checkpoint import average_checkpoints

    _save_with_statistics(average_checkpoints(checkpoints), out, slots, seed, overwrite, moving=True)
