"""Train a small DeepRx from Python, then compare it with LS+LMMSE in the same link.

    python examples/train_small_deeprx.py --out models/small [--width 0.125] [--steps 2000]

The library calls behind ``deeprx train`` and ``deeprx simulate``:
`train_deeprx` (Keras ``fit`` on batches drawn from the Sionna link,
validation on unseen channel models, a checkpoint in ``--out`` that an
interrupted run resumes from), then `compare_receivers` with a
`DeepRxReceiver` built from the checkpoint next to LS+LMMSE.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import deeprx_tf  # noqa: F401  (first: makes tf.keras Keras 2, before TensorFlow loads)

from deeprx_tf import DeepRxConfig, DeepRxReceiver, TrainConfig, load_checkpoint, train_deeprx
from deeprx_tf.train_config import TRAIN_CHANNEL_MODELS
from link_sim import LinkConfig
from link_sim.compare import compare_receivers
from link_sim.sweep import parse_sinr_grid


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="checkpoint folder")
    parser.add_argument("--width", type=float, default=0.125, help="width x the paper's DeepRx")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--num-prb", type=int, default=4)
    parser.add_argument("--channels", default=",".join(TRAIN_CHANNEL_MODELS), help="training channel models")
    parser.add_argument("--sinr", default="10,20,30", help="SINR points [dB]: A,B,C or START:STOP:STEP")
    parser.add_argument("--slots", type=int, default=64, help="slots per SINR point")
    args = parser.parse_args(argv)

    scenario = LinkConfig(num_prb=args.num_prb, sinr_db=(5.0, 40.0))
    model_config = DeepRxConfig(num_rx_ant=scenario.num_rx_ant).scaled(args.width)
    train_config = TrainConfig(steps=args.steps, batch_size=16, steps_per_epoch=min(100, args.steps),
                               warmup_steps=min(200, args.steps // 2), validation_slots=16,
                               channel_models=tuple(args.channels.split(",")))
    card = train_deeprx(model_config, scenario, train_config, args.out)
    print(f"trained {args.steps} steps: validation Geometric Mean BER {card['validation']['val_gmber']:.3f}")

    checkpoint = load_checkpoint(args.out)
    receivers = {"lmmse": "lmmse", "deeprx": lambda tx: DeepRxReceiver(tx, checkpoint)}
    sinr_db = parse_sinr_grid(args.sinr)
    report = compare_receivers(scenario, receivers, sinr_db, batch_size=args.slots, max_mc_iter=1)
    for name, entry in report["receivers"].items():
        bers = ", ".join(f"{p['uncoded_ber']:.2e}" for p in entry["points"])
        print(f"{name:<7} uncoded BER at {args.sinr} dB: {bers}")
    return report


if __name__ == "__main__":
    main()
