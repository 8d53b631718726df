"""Validation BER of DeepRx checkpoints with their batch-norm statistics as saved and re-estimated per DMRS count.

    python examples/batch_norm_by_dmrs.py CKPT [CKPT ...] --out batch_norm_by_dmrs.json \
        [--slots 512] [--seed 123] [--validation-slots 256]

Training draws each batch from one (channel model, DMRS count) pair, so a
batch normalization's moving statistics are an average over whichever
pairs the last hundred batches happened to be, and the inputs of one and
two DMRS symbols differ. Here each checkpoint is validated as
`examples/validate_checkpoints.py` does (the same slots, unseen channel
models, per DMRS count), once with its saved statistics and once with
statistics re-estimated from ``--slots`` training slots of that DMRS
count alone (the training channel models and SINRs, data seed ``--seed``:
`deeprx_tf.batch_norm.BatchNormStatistics.estimate`, what ``deeprx train``
saves with each checkpoint and ``deeprx batch-norm-statistics`` adds to
one). The weights are not changed.
"""

from __future__ import annotations

import link_sim  # noqa: F401  (first: its package prepares TensorFlow's environment)

import argparse
from pathlib import Path

from deeprx_tf.batch_norm import BatchNormStatistics, statistics_features
from deeprx_tf.checkpoint import load_checkpoint
from deeprx_tf.train_config import BATCH_NORM_SEED, BATCH_NORM_SLOTS
from deeprx_tf.dataset import validation_sets
from deeprx_tf.training import ValidationGeometricMeanBER
from link_sim.results import write_json

SINR_DB = (5.0, 15.0, 25.0, 35.0)
BATCH_SIZE = 16


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--slots", type=int, default=BATCH_NORM_SLOTS,
                        help="training slots per DMRS count for the statistics")
    parser.add_argument("--seed", type=int, default=BATCH_NORM_SEED, help="data seed of those slots")
    parser.add_argument("--validation-slots", type=int, default=256, help="slots per SINR point and DMRS count")
    args = parser.parse_args(argv)
    if args.slots < BATCH_SIZE:
        parser.error(f"--slots must be at least {BATCH_SIZE}, got {args.slots}")

    results = {}
    for name in args.checkpoints:
        checkpoint = load_checkpoint(name)
        link = checkpoint.link_config
        # the model as saved (its moving statistics), whatever statistics the checkpoint keeps beside it
        model = checkpoint.model
        stats = BatchNormStatistics.estimate(model, statistics_features(
            link, (1, 2), args.slots, seed=args.seed, model_config=checkpoint.config))
        entry = {}
        for dmrs in (1, 2):
            sets = validation_sets(link, SINR_DB, args.validation_slots, seed=1, dmrs_symbols=(dmrs,),
                                   model_config=checkpoint.config)
            saved = ValidationGeometricMeanBER(sets).evaluate(model)
            reestimated = stats.model_for(model, dmrs)
            entry[f"dmrs{dmrs}"] = {"saved": saved,
                                    "reestimated": ValidationGeometricMeanBER(sets).evaluate(reestimated)}
            print(f"{Path(name).name:<16} {dmrs} DMRS: Geometric Mean BER {saved['val_gmber']:.3f} as saved, "
                  f"{entry[f'dmrs{dmrs}']['reestimated']['val_gmber']:.3f} re-estimated", flush=True)
        results[Path(name).name] = entry
    report = {"sinr_db": list(SINR_DB), "validation_slots_per_point": args.validation_slots, "validation_seed": 1,
              "statistics_slots": stats.info["slots_per_dmrs_count"][1], "statistics_seed": args.seed,
              "checkpoints": results}
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
