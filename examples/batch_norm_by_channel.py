"""Does DeepRx rely on normalizing each channel model on its own? Validation BER per channel model with
batch-norm statistics of all training channel models pooled (as shipped) and of that channel model alone.

    python examples/batch_norm_by_channel.py --channels TDL-C,CDL-D,TDL-A --out batch_norm_by_channel.json \
        [--checkpoint default] [--dmrs-symbols 1] [--slots 512] [--validation-slots 256]

Training draws each batch from one channel model, so in training every
batch normalization normalizes one channel model at a time, while the
statistics a link receives with (`deeprx_tf.batch_norm`) pool the six
training channel models. Here, for each channel model given, the same
validation slots (``--validation-slots`` per SINR point, seed 1) are
received with the checkpoint's statistics of that DMRS count and with
statistics estimated from ``--slots`` training slots of that channel
model alone (data seed 123): the second knows the channel model, which
no receiver does, so the difference bounds what batches mixing channel
models in training could remove.
"""

from __future__ import annotations

import link_sim  # noqa: F401  (first: its package prepares TensorFlow's environment)

import argparse
from pathlib import Path

from deeprx_tf.batch_norm import BatchNormStatistics, statistics_features
from deeprx_tf.checkpoint import load_checkpoint
from deeprx_tf.dataset import validation_sets
from deeprx_tf.train_config import BATCH_NORM_SEED, BATCH_NORM_SLOTS
from deeprx_tf.training import ValidationGeometricMeanBER
from link_sim.results import write_json

SINR_DB = (5.0, 15.0, 25.0, 35.0)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", required=True, help="channel models, comma-separated")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--checkpoint", default="default", help="checkpoint folder or shipped model name")
    parser.add_argument("--dmrs-symbols", type=int, default=1)
    parser.add_argument("--slots", type=int, default=BATCH_NORM_SLOTS, help="slots of each channel model's statistics")
    parser.add_argument("--validation-slots", type=int, default=256, help="slots per SINR point")
    args = parser.parse_args(argv)

    checkpoint = load_checkpoint(args.checkpoint)
    link, dmrs = checkpoint.link_config, args.dmrs_symbols
    shipped = checkpoint.model_for(dmrs)
    results = {}
    for channel in args.channels.split(","):
        sets = validation_sets(link, SINR_DB, args.validation_slots, seed=1, channel_models=(channel,),
                               dmrs_symbols=(dmrs,), model_config=checkpoint.config)
        own = BatchNormStatistics.estimate(checkpoint.model, statistics_features(
            link, (dmrs,), args.slots, seed=BATCH_NORM_SEED, channel_models=(channel,), model_config=checkpoint.config))
        results[channel] = {"pooled": ValidationGeometricMeanBER(sets).evaluate(shipped),
                            "own_channel": ValidationGeometricMeanBER(sets).evaluate(own.model_for(checkpoint.model, dmrs))}
        print(f"{channel:<6} Geometric Mean BER {results[channel]['pooled']['val_gmber']:.3f} with the pooled "
              f"statistics, {results[channel]['own_channel']['val_gmber']:.3f} with its own", flush=True)
    report = {"checkpoint": args.checkpoint, "num_dmrs_symbols": dmrs, "sinr_db": list(SINR_DB),
              "validation_slots_per_point": args.validation_slots, "validation_seed": 1,
              "statistics_slots": args.slots, "statistics_seed": BATCH_NORM_SEED, "channel_models": results}
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
