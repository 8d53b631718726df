"""Training slots/s of DeepRx: both forms of the dilated depthwise convolutions, with oneDNN on and off.

The same architecture (the shipped model's by default), weights, optimizer
and batches, trained with Keras ``fit`` with the dilated depthwise
convolutions in Keras' own ``DepthwiseConv2D`` (SpaceToBatchND +
convolution + BatchToSpaceND) and as grouped convolutions
(`deeprx_tf.layers.GroupedDepthwiseConv2D` forced to ``"grouped"``), each
in a process with TensorFlow's oneDNN kernels off and one with them on
(``TF_ENABLE_ONEDNN_OPTS``), each form in a process of its own (one model
per process, as ``deeprx train`` runs), alternating, best of ``--rounds``.
Each form is timed on batches replayed from memory (the model alone) and
on the live Sionna pipeline (`deeprx_tf.dataset.training_dataset`, what
``deeprx train`` runs). After timing, each process compares the two forms'
logits and gradients on one batch (same function, float32 rounding apart),
and records the form the package picks there by default
(`deeprx_tf.layers.dilated_conv_kernel`). A form that has no kernel in a
setting (grouped convolutions in a graph without oneDNN) is recorded as
`None` with TensorFlow's message.

    python benchmarks/train_throughput.py [--preset default] [--num-prb 4] [--steps 40] [--rounds 2]
"""

from __future__ import annotations

import link_sim  # noqa: F401  (first: its package prepares TensorFlow's environment)

import argparse
import time

import numpy as np
import tensorflow as tf
import tf_keras as keras

from deeprx_tf.checkpoint import read_checkpoint_config
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.dataset import training_dataset
from deeprx_tf.layers import dilated_conv_kernel, onednn_enabled, set_dilated_conv_kernel, with_keras_layers
from deeprx_tf.losses import masked_bce
from deeprx_tf.model import build_deeprx
from link_sim import LinkConfig
from link_sim.results import write_json
from _common import ONEDNN_SETTINGS, best_of, benchmark_parser, run_onednn_rounds, tf_error_line, write_result

FORMULATIONS = ("keras_depthwise", "grouped")
DATA = ("cached", "live")


def model_config(preset: str) -> DeepRxConfig:
    """``"default"``: the shipped model's architecture; otherwise a `DeepRxConfig.preset`."""
    return read_checkpoint_config("default") if preset == "default" else DeepRxConfig.preset(preset)


def build(config: DeepRxConfig, formulation: str) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = build_deeprx(config)
    return with_keras_layers(model) if formulation == "keras_depthwise" else model


def same_math(config: DeepRxConfig, batch) -> dict:
    """Largest logit and gradient differences between the forms (eager), relative to the largest value.

    Raises TensorFlow's error where the grouped form has no kernel."""
    features, target = batch
    results = []
    for formulation in FORMULATIONS:
        model = build(config, formulation)
        with tf.GradientTape() as tape:
            logits = model(features, training=True)
            loss = tf.reduce_mean(masked_bce(target, logits))
        results.append((logits.numpy(), [g.numpy() for g in tape.gradient(loss, model.trainable_weights)]))
    (logits_a, grads_a), (logits_b, grads_b) = results

    def relative(a, b):
        return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30))

    return {"logits_max_rel_diff": relative(logits_a, logits_b),
            "gradients_max_rel_diff": max(relative(a, b) for a, b in zip(grads_a, grads_b))}


class BatchEndClock(keras.callbacks.Callback):
    """The time at the end of every training batch of a ``fit``."""

    def on_train_begin(self, logs=None):
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def timed_steps(text: str) -> int:
    """``--steps``: how many training steps each timing covers (a pace needs two batch ends)."""
    steps = int(text)
    if steps < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2, got {steps}")
    return steps


def slots_per_second(model: keras.Model, dataset, steps: int, batch_size: int) -> float:
    """Training pace of ``model`` on ``dataset``: slots/s from the end of the first of ``steps``
    batches to the end of the last, after a warm-up ``fit`` of as many.

    Timed inside ``fit``, not around it: after its last batch, ``fit`` on a
    finite dataset sometimes waits for tf.data's autotuning thread to end a
    sleep whose length doubles from 10 ms, so a call timed from outside
    lasts about (2**k - 1) x 10 ms (20.47 s, 40.95 s) whatever the model's
    pace (measured: the wait goes with ``tf.data.Options().autotune.enabled
    = False``). A batch-end callback waits for every step, as the training's
    own batch callbacks do.
    """
    model.fit(dataset.take(steps), verbose=0)
    clock = BatchEndClock()
    model.fit(dataset.take(steps), verbose=0, callbacks=[clock])
    return (steps - 1) * batch_size / (clock.times[-1] - clock.times[0])


def worker(args) -> None:
    """One process, one oneDNN setting, one form: timed on both data sources, then the math check.

    One model per process, as ``deeprx train`` runs. (A second model trained
    in the same process was once timed up to half as fast, with the timing
    around ``fit`` that the autotuning wait spoilt; not re-checked since.)
    """
    auto = dilated_conv_kernel()
    set_dilated_conv_kernel("grouped")  # the grouped form is measured wherever it runs
    link = LinkConfig(num_prb=args.num_prb)
    config = model_config(args.preset)
    live = training_dataset(link, args.batch_size, seed=0, model_config=config)
    cached_batches = list(live.take(args.steps))
    cached = tf.data.Dataset.from_tensor_slices(
        tuple(tf.stack([b[i] for b in cached_batches]) for i in range(2)))
    rates, error = {}, None
    model = build(config, args.form)
    model.compile(keras.optimizers.Adam(1e-3), loss=masked_bce)
    for data_name, data in (("cached", cached), ("live", live)):
        try:
            rates[f"{args.form}/{data_name}"] = slots_per_second(model, data, args.steps, args.batch_size)
        except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError) as err:
            rates[f"{args.form}/{data_name}"], error = None, tf_error_line(err)
    try:
        check = same_math(config, cached_batches[0])
    except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError) as err:
        check = {"error": tf_error_line(err)}
    write_json(args.worker_out, {"onednn": onednn_enabled(), "default_kernel": auto, "same_math": check,
                                 "slots_per_s": rates, "errors": {args.form: error} if error else {},
                                 "flops_per_slot": config.flops_per_slot(link.num_subcarriers)})


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b is not None else None


def main():
    parser = benchmark_parser(__doc__, "train_throughput.json")
    parser.add_argument("--preset", default="default", help="'default' (the shipped model's) or a preset")
    parser.add_argument("--steps", type=timed_steps, default=40, help="training steps per timing (>= 2)")
    parser.add_argument("--form", choices=FORMULATIONS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_out:
        return worker(args)

    passed = ["--preset", args.preset, "--num-prb", str(args.num_prb), "--batch-size", str(args.batch_size),
              "--steps", str(args.steps)]
    runs = run_onednn_rounds(__file__, passed, args.rounds,
                             variants={form: ["--form", form] for form in FORMULATIONS})
    settings = {}
    for name in ONEDNN_SETTINGS:
        setting_runs = [run for form in FORMULATIONS for run in runs[f"{name}/{form}"]]
        rates = best_of(setting_runs, "slots_per_s")
        default = setting_runs[0]["default_kernel"]
        settings[name] = {
            "onednn": setting_runs[0]["onednn"],
            "default_kernel": default,
            "slots_per_s": rates,
            "per_round": {key: [run["slots_per_s"] for run in value] for key, value in runs.items()
                          if key.startswith(name + "/")},
            "default_slots_per_s": {d: rates[f"{'grouped' if default == 'grouped' else 'keras_depthwise'}/{d}"]
                                    for d in DATA},
            "ratio_grouped_vs_keras_depthwise": {d: ratio(rates[f"grouped/{d}"], rates[f"keras_depthwise/{d}"])
                                                 for d in DATA},
            "errors": {k: v for run in setting_runs for k, v in run["errors"].items()},
            "same_math": setting_runs[0]["same_math"],
        }
    fastest = {d: max(((s, f, settings[s]["slots_per_s"][f"{f}/{d}"]) for s in settings for f in FORMULATIONS
                       if settings[s]["slots_per_s"][f"{f}/{d}"] is not None), key=lambda t: t[2])
               for d in DATA}
    result = {
        "benchmark": "train_throughput",
        "scenario": LinkConfig(num_prb=args.num_prb).to_dict(),
        "preset": args.preset,
        "flops_per_slot": runs[f"onednn_on/{FORMULATIONS[0]}"][0]["flops_per_slot"],
        "batch_size": args.batch_size,
        "steps_per_round": args.steps,
        "rounds": args.rounds,
        "by_onednn": settings,
        "fastest": {d: {"onednn": s, "kernel": f, "slots_per_s": r} for d, (s, f, r) in fastest.items()},
    }
    write_result(args.out, result)
    for name, s in settings.items():
        for key, rate in s["slots_per_s"].items():
            shown = f"{rate:6.1f} slots/s" if rate is not None else "no kernel: " + s["errors"].get(key.split("/")[0], "")
            print(f"{name:10s} {key:24s} {shown}")
        print(f"{name:10s} default kernel {s['default_kernel']}")
    print(f"fastest: {fastest}; wrote {args.out}")


if __name__ == "__main__":
    main()
