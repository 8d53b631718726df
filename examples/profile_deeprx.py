"""FLOPs per slot of a DeepRx by block, and the paper's energy metric (0) on its processors.

    python examples/profile_deeprx.py [--preset paper] [--num-prb 26]

The library calls behind ``deeprx profile``: `count_flops` (the
TensorFlow profiler on a frozen batch-1 graph, checked layer by layer
against an analytic count), then metric (0), FLOPs / (FLOP/s per W), for
the six processors of the paper, and the lifecycle of training against
inference energy with the paper's training figures.
"""

from __future__ import annotations

import argparse

import deeprx_tf  # noqa: F401  (first: makes tf.keras Keras 2, before TensorFlow loads)

from deeprx_tf import DeepRxConfig, build_deeprx
from profiling.flops import count_flops
from profiling.lifecycle import PAPER_TRAIN_ENERGY_PER_STEP_J, PAPER_TRAIN_STEPS, Lifecycle
from profiling.processors import energy_table, paper_processors


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper", help="'paper' or a width multiplier like 'x0.5'")
    parser.add_argument("--num-prb", type=int, default=26, help="grid width (the paper: 26 PRB)")
    args = parser.parse_args(argv)

    config = DeepRxConfig.preset(args.preset)
    report = count_flops(build_deeprx(config), (14, 12 * args.num_prb, config.num_input_channels))
    total = report.total_flops
    print(f"{args.preset}: {total / 1e9:.3f} GFLOP per slot of 14 x {12 * args.num_prb} "
          f"({report.macs / 1e9:.3f} GMAC in convolutions); analytic check: "
          + ("agrees" if not report.mismatches() else f"differs on {report.mismatches()}"))
    for block, flops in report.by_block().items():
        print(f"  {block:<9} {flops / total:6.1%}")
    energy = energy_table({"total": total}, paper_processors())
    for processor, per_item in energy.items():
        print(f"  {processor:<18} {per_item['total'] * 1e3:9.3f} mJ per slot (metric 0)")
    edge_tpu = energy["Coral Edge TPU"]["total"]
    life = Lifecycle.from_steps(PAPER_TRAIN_ENERGY_PER_STEP_J, PAPER_TRAIN_STEPS, edge_tpu)
    print(f"training ({PAPER_TRAIN_STEPS} steps of {PAPER_TRAIN_ENERGY_PER_STEP_J:g} J) against "
          f"Edge TPU inference: curves cross after {life.crossing_inferences:.3g} inferences, "
          f"total energies after {life.break_even_inferences:.3g}")
    return {"flops": report.to_dict(), "energy_j": energy}


if __name__ == "__main__":
    main()
