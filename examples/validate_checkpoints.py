"""Validation BER of DeepRx checkpoints on channel models they never trained on, per DMRS count.

    python examples/validate_checkpoints.py CKPT [CKPT ...] --out validation.json \
        [--sinr 5,15,25,35] [--slots 256] [--channels CDL-A,CDL-E,TDL-A,TDL-E] [--num-prb N]

The same fixed slots (`deeprx_tf.validation_sets`, seed 1) for every
checkpoint: uncoded BER per SINR point and its Geometric Mean BER, once with
one DMRS symbol and once with two, on each checkpoint's own scenario
otherwise (grid, antennas, MCS, speeds, delay spreads). Each DMRS count is
received as a link receives it: with the checkpoint's batch-norm
statistics of that count where it has them (`Checkpoint.model_for`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from deeprx_tf.checkpoint import load_checkpoint
from deeprx_tf.dataset import validation_sets
from deeprx_tf.train_config import VALIDATION_CHANNEL_MODELS
from deeprx_tf.training import ValidationGeometricMeanBER
from link_sim.results import write_json


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sinr", default="5,15,25,35")
    parser.add_argument("--slots", type=int, default=256, help="slots per SINR point and DMRS count")
    parser.add_argument("--channels", default=",".join(VALIDATION_CHANNEL_MODELS))
    parser.add_argument("--num-prb", type=int, help="validate on this grid instead of each checkpoint's own "
                                                    "(a fully convolutional model trained on another)")
    args = parser.parse_args(argv)
    sinr_db = [float(s) for s in args.sinr.split(",")]
    channels = tuple(args.channels.split(","))
    results = {}
    for path in args.checkpoints:
        ckpt = load_checkpoint(path)
        link = ckpt.link_config if args.num_prb is None else ckpt.link_config.replace(num_prb=args.num_prb)
        entry = {}
        for dmrs in (1, 2):
            sets = validation_sets(link, sinr_db, args.slots, seed=1, channel_models=channels,
                                   dmrs_symbols=(dmrs,), model_config=ckpt.config)
            entry[f"dmrs{dmrs}"] = ValidationGeometricMeanBER(sets).evaluate(ckpt.model_for(dmrs))
            bers = " ".join(f"{entry[f'dmrs{dmrs}'][f'val_ber_{s:g}dB']:.3e}" for s in sinr_db)
            print(f"{path.name:<16} {dmrs} DMRS: BER {bers}  Geometric Mean BER "
                  f"{entry[f'dmrs{dmrs}']['val_gmber']:.3f}")
        results[path.name] = entry
    report = {"sinr_db": sinr_db, "channel_models": list(channels), "slots_per_point": args.slots,
              "seed": 1, "num_prb": args.num_prb or "each checkpoint's", "checkpoints": results}
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
