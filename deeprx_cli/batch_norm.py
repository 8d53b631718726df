"""``deeprx batch-norm-statistics``: a checkpoint with batch-norm statistics per DMRS count."""

from __future__ import annotations

from pathlib import Path

import click

from deeprx_cli.common import uses_tensorflow
from deeprx_tf.train_config import BATCH_NORM_SEED, BATCH_NORM_SLOTS


@click.command("batch-norm-statistics")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Checkpoint folder to write: CHECKPOINT's weights and card, with the statistics beside them.")
@click.option("--slots", type=click.IntRange(min=16), default=BATCH_NORM_SLOTS, show_default=True,
              help="Training slots per DMRS count that the statistics are estimated from.")
@click.option("--seed", type=click.IntRange(min=0), default=BATCH_NORM_SEED, show_default=True,
              help="Data seed of those slots.")
@click.option("--overwrite", is_flag=True, help="Replace a checkpoint already in --out.")
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
    from deeprx_tf.checkpoint import load_checkpoint, save_checkpoint
    from deeprx_tf.folders import BATCH_NORM_STATISTICS, MODEL_JSON, QAT_WEIGHTS, WEIGHTS
    from link_sim.results import prepare_output_dir

    loaded = load_checkpoint(checkpoint)
    prepare_output_dir(out, (MODEL_JSON, WEIGHTS, QAT_WEIGHTS, BATCH_NORM_STATISTICS), overwrite, lock=False)
    updated = loaded.with_batch_norm_statistics(slots, seed)
    save_checkpoint(out, updated.model, updated.config, updated.link_config, updated.card,
                    qat_model=updated.qat_model, batch_norm_statistics=updated.batch_norm_statistics)
    stats = updated.batch_norm_statistics
    click.echo(f"wrote {out}: batch-norm statistics for {' and '.join(map(str, stats.dmrs_symbols))} DMRS "
               f"symbol(s), {slots // 16 * 16} training slots each (seed {seed})")
