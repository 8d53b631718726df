"""Training slots/s of the shipped architecture at other widths: what a width costs in CPU time.

The shipped model's architecture (x0.5 of the paper's widths, equalized
input) scaled to each of ``--widths`` (of the paper's widths), trained with
Keras ``fit`` on the live Sionna pipeline
(`deeprx_tf.dataset.training_dataset`, what ``deeprx train`` runs) with
the kernels the package picks on this machine; each width in a process of
its own, alternating, best of ``--rounds``. The ratio is against the first
width, measured in the same run: a run of width w gets the CPU time of
the first width's N slots in N x ratio slots.

    python benchmarks/width_throughput.py [--widths 0.5,0.75,1] [--num-prb 4] [--steps 40] [--rounds 2]
"""

from __future__ import annotations

import link_sim  # noqa: F401  (first: its package prepares TensorFlow's environment)

import argparse

import tf_keras as keras

from deeprx_tf.checkpoint import read_checkpoint_config
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.dataset import training_dataset
from deeprx_tf.layers import dilated_conv_kernel, onednn_enabled
from deeprx_tf.losses import masked_bce
from deeprx_tf.model import build_deeprx
from link_sim import LinkConfig
from link_sim.results import write_json
from _common import best_of, benchmark_parser, run_rounds, write_result
from train_throughput import slots_per_second, timed_steps

SHIPPED_WIDTH = 0.5  # the shipped model's widths, as a fraction of the paper's


def at_width(width: float) -> DeepRxConfig:
    """The shipped architecture with every width at ``width`` x the paper's."""
    return read_checkpoint_config("default").scaled(width / SHIPPED_WIDTH)


def worker(args) -> None:
    """One process, one width: slots/s of Keras fit on the live pipeline."""
    link = LinkConfig(num_prb=args.num_prb)
    config = at_width(args.width)
    keras.utils.set_random_seed(0)
    model = build_deeprx(config)
    model.compile(keras.optimizers.Adam(1e-3), loss=masked_bce)
    live = training_dataset(link, args.batch_size, seed=0, model_config=config)
    rate = slots_per_second(model, live, args.steps, args.batch_size)
    write_json(args.worker_out, {"onednn": onednn_enabled(), "kernel": dilated_conv_kernel(),
                                 "slots_per_s": {"live": rate},
                                 "flops_per_slot": config.flops_per_slot(link.num_subcarriers),
                                 "size_vs_paper": config.size_vs_paper()})


def main():
    parser = benchmark_parser(__doc__, "width_throughput.json")
    parser.add_argument("--widths", default="0.5,0.75,1", help="widths as fractions of the paper's; "
                                                              "the first is the baseline")
    parser.add_argument("--steps", type=timed_steps, default=40, help="training steps per timing (>= 2)")
    parser.add_argument("--width", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_out:
        return worker(args)

    widths = [float(w) for w in args.widths.split(",")]
    passed = ["--num-prb", str(args.num_prb), "--batch-size", str(args.batch_size), "--steps", str(args.steps)]
    runs = run_rounds(__file__, passed, args.rounds, {f"x{w:g}": ["--width", str(w)] for w in widths})
    by_width = {}
    for name, worker_runs in runs.items():
        by_width[name] = {"slots_per_s": best_of(worker_runs, "slots_per_s")["live"],
                          "per_round": [run["slots_per_s"]["live"] for run in worker_runs],
                          "flops_per_slot": worker_runs[0]["flops_per_slot"],
                          "size_vs_paper": worker_runs[0]["size_vs_paper"],
                          "kernel": worker_runs[0]["kernel"], "onednn": worker_runs[0]["onednn"]}
    baseline = by_width[f"x{widths[0]:g}"]
    for entry in by_width.values():
        entry["slots_per_s_vs_baseline"] = entry["slots_per_s"] / baseline["slots_per_s"]
        entry["flops_vs_baseline"] = entry["flops_per_slot"] / baseline["flops_per_slot"]
    write_result(args.out, {"benchmark": "width_throughput", "scenario": LinkConfig(num_prb=args.num_prb).to_dict(),
                            "batch_size": args.batch_size, "steps_per_round": args.steps, "rounds": args.rounds,
                            "baseline": f"x{widths[0]:g}", "by_width": by_width})
    for name, entry in by_width.items():
        print(f"{name:6s} {entry['slots_per_s']:6.1f} slots/s ({entry['slots_per_s_vs_baseline']:.2f} x the "
              f"baseline's; FLOPs per slot {entry['flops_vs_baseline']:.2f} x)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
