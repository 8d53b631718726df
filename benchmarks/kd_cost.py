"""Training slots/s of a DeepRx student in each arm of the KD experiment: what a teacher costs.

The student of docs/kd_capacity_plan.md (the paper's widths x``--width``
with the shipped model's inputs, as ``examples/reproduce_paper.py`` builds
it) trained with Keras ``fit`` three ways, each in a process of its own,
alternating, best of ``--rounds``:

- ``scratch``: the student alone (``deeprx train``);
- ``kd``: `distill.DeepRxDistiller` around it with the shipped teacher,
  each batch normalized with its DMRS count's statistics, as
  `distill.distillation_hooks` trains it (alpha 1, T 1): one teacher
  forward pass per batch;
- ``perfect_csi``: `deeprx_tf.privileged.PrivilegedTrainee` with the
  perfect-CSI LMMSE receiver's LLRs as soft targets (weight 1): one LMMSE
  per slot in the data pipeline, no network.

Each arm is timed on batches replayed from memory (the trainee alone) and
on the live Sionna pipeline (`deeprx_tf.dataset.training_dataset`, what a
run trains on). The ratios are against ``scratch`` in the same run. What
caching the teacher's outputs for a fixed data stream could save is at
most the difference between ``kd`` and ``scratch`` on the live pipeline:
``teacher_share_live`` is that difference's share of a KD step.

    python benchmarks/kd_cost.py [--width 0.125] [--num-prb 4] [--steps 40] [--rounds 2]
"""

from __future__ import annotations

import link_sim  # noqa: F401  (first: its package prepares TensorFlow's environment)

import argparse
import dataclasses

import tensorflow as tf
import tf_keras as keras

from deeprx_tf.checkpoint import read_checkpoint_config
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.dataset import training_dataset
from deeprx_tf.layers import dilated_conv_kernel, onednn_enabled
from deeprx_tf.losses import MaskedBitErrorRate, masked_bce
from deeprx_tf.model import build_deeprx
from deeprx_tf.privileged import compile_privileged_trainee, num_channel_outputs
from distill import distillation_hooks
from link_sim import LinkConfig
from link_sim.results import write_json
from _common import best_of, benchmark_parser, run_rounds, write_result
from train_throughput import slots_per_second, timed_steps

ARMS = ("scratch", "kd", "perfect_csi")
DATA = ("cached", "live")
TEACHER = "default"


def student_config(width: float) -> DeepRxConfig:
    """The paper's DeepRx at ``width`` of its widths, with the shipped teacher's inputs (the
    reproduction's ``architecture.json`` scaled as its sweep scales it)."""
    inputs = read_checkpoint_config(TEACHER).feature_options()
    return dataclasses.replace(DeepRxConfig(), **inputs).scaled(width)


def trainee(arm: str, config: DeepRxConfig, link: LinkConfig, steps: int) -> keras.Model:
    """The compiled model ``fit`` trains in ``arm``, as the experiment's runs compile it."""
    keras.utils.set_random_seed(0)
    student = build_deeprx(config)
    optimizer = keras.optimizers.Adam(1e-3)
    if arm == "kd":
        compile_trainee, _ = distillation_hooks(TEACHER, config, link, alpha=1.0, temperature=1.0)
        return compile_trainee(student, optimizer, False)
    if arm == "perfect_csi":
        return compile_privileged_trainee(student, optimizer, False, num_channel_outputs=num_channel_outputs(link),
                                          channel_loss_weight=0.0, genie_loss_weight=1.0, decay_steps=steps)
    student.compile(optimizer=optimizer, loss=masked_bce, metrics=[MaskedBitErrorRate()])
    return student


def worker(args) -> None:
    """One process, one arm: slots/s on replayed and on live batches."""
    link = LinkConfig(num_prb=args.num_prb)
    config = student_config(args.width)
    live = training_dataset(link, args.batch_size, seed=0, model_config=config,
                            privileged=("genie_llr",) if args.arm == "perfect_csi" else ())
    cached = tf.data.Dataset.from_tensors(next(iter(live.take(1)))).repeat()  # one batch, replayed
    fitted = trainee(args.arm, config, link, args.steps)
    rates = {name: slots_per_second(fitted, data, args.steps, args.batch_size)
             for name, data in (("cached", cached), ("live", live))}
    write_json(args.worker_out, {"onednn": onednn_enabled(), "kernel": dilated_conv_kernel(), "slots_per_s": rates,
                                 "flops_per_slot": config.flops_per_slot(link.num_subcarriers),
                                 "size_vs_paper": config.size_vs_paper()})


def main():
    parser = benchmark_parser(__doc__, "kd_cost.json")
    parser.add_argument("--width", type=float, default=0.125, help="the student's widths, as a fraction of "
                                                                   "the paper's")
    parser.add_argument("--steps", type=timed_steps, default=40, help="training steps per timing (>= 2)")
    parser.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_out:
        return worker(args)

    passed = ["--width", str(args.width), "--num-prb", str(args.num_prb), "--batch-size", str(args.batch_size),
              "--steps", str(args.steps)]
    runs = run_rounds(__file__, passed, args.rounds, {arm: ["--arm", arm] for arm in ARMS})
    by_arm = {arm: {"slots_per_s": best_of(runs[arm], "slots_per_s"),
                    "per_round": [run["slots_per_s"] for run in runs[arm]]} for arm in ARMS}
    scratch = by_arm["scratch"]["slots_per_s"]
    for entry in by_arm.values():
        entry["slots_per_s_vs_scratch"] = {d: entry["slots_per_s"][d] / scratch[d] for d in DATA}
    kd_live = by_arm["kd"]["slots_per_s"]["live"]
    first = runs["scratch"][0]
    result = {"benchmark": "kd_cost", "scenario": LinkConfig(num_prb=args.num_prb).to_dict(),
              "student_width": args.width, "teacher": TEACHER, "flops_per_slot": first["flops_per_slot"],
              "size_vs_paper": first["size_vs_paper"], "kernel": first["kernel"], "onednn": first["onednn"],
              "batch_size": args.batch_size, "steps_per_round": args.steps, "rounds": args.rounds,
              "baseline": "scratch", "by_arm": by_arm,
              # seconds per slot a KD step spends beyond a scratch step, as a share of the KD step's
              "teacher_share_live": 1.0 - kd_live / scratch["live"]}
    write_result(args.out, result)
    for arm, entry in by_arm.items():
        print(f"{arm:12s} " + ", ".join(f"{d} {entry['slots_per_s'][d]:6.1f} slots/s "
                                        f"({entry['slots_per_s_vs_scratch'][d]:.2f} x scratch)" for d in DATA))
    print(f"the teacher's share of a KD step on live batches: {result['teacher_share_live']:.0%}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
