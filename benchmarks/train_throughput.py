"""Training slots/s of DeepRx: Keras' dilated depthwise convolutions against the grouped formulation.

The same architecture (the shipped preset by default), weights, optimizer
and batches, trained with Keras ``fit`` in two formulations of the dilated
depthwise convolutions: Keras' own ``DepthwiseConv2D`` (SpaceToBatchND +
convolution + BatchToSpaceND, what deeprx-tf trained with before) and
`deeprx_tf.layers.GroupedDepthwiseConv2D` (what `build_deeprx` builds now).
Each is timed on batches replayed from memory (the model alone) and on the
live Sionna pipeline (`deeprx_tf.dataset.training_dataset`, what
``deeprx train`` runs), in alternating rounds, best of ``--rounds``. Before
timing, the two formulations' logits and gradients on one batch are
compared (same function, float32 rounding apart).

    python benchmarks/train_throughput.py [--preset x0.5] [--num-prb 4] [--steps 40] [--rounds 2]
"""

from __future__ import annotations

import link_sim.tfenv  # noqa: F401  (before TensorFlow)

import argparse
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras as keras

from deeprx_tf.config import DeepRxConfig
from deeprx_tf.dataset import training_dataset
from deeprx_tf.layers import with_keras_layers
from deeprx_tf.model import build_deeprx
from deeprx_tf.losses import masked_bce
from link_sim import LinkConfig
from _common import RESULTS_DIR, write_result

FORMULATIONS = ("keras_depthwise", "grouped")


def build(config: DeepRxConfig, formulation: str) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = build_deeprx(config)
    return with_keras_layers(model) if formulation == "keras_depthwise" else model


def same_math(config: DeepRxConfig, batch) -> dict:
    """Largest logit and gradient differences between the formulations, relative to the largest value."""
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


def slots_per_second(model: keras.Model, dataset, steps: int, batch_size: int) -> float:
    model.fit(dataset.take(steps), verbose=0)
    start = time.perf_counter()
    model.fit(dataset.take(steps), verbose=0)
    return steps * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="x0.5")
    parser.add_argument("--num-prb", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "train_throughput.json")
    args = parser.parse_args()

    link = LinkConfig(num_prb=args.num_prb)
    config = DeepRxConfig.preset(args.preset)
    live = training_dataset(link, args.batch_size, seed=0)
    cached_batches = list(live.take(args.steps))
    cached = tf.data.Dataset.from_tensor_slices(
        tuple(tf.stack([b[i] for b in cached_batches]) for i in range(2)))
    check = same_math(config, cached_batches[0])
    models = {}
    for formulation in FORMULATIONS:
        models[formulation] = build(config, formulation)
        models[formulation].compile(keras.optimizers.Adam(1e-3), loss=masked_bce)
    rates = {f"{f}/{d}": 0.0 for f in FORMULATIONS for d in ("cached", "live")}
    for _ in range(args.rounds):
        for formulation, model in models.items():
            for data_name, data in (("cached", cached), ("live", live)):
                rate = slots_per_second(model, data, args.steps, args.batch_size)
                key = f"{formulation}/{data_name}"
                rates[key] = max(rates[key], rate)
    speedup = rates["grouped/live"] / rates["keras_depthwise/live"]
    result = {
        "benchmark": "train_throughput",
        "scenario": link.to_dict(),
        "preset": args.preset,
        "flops_per_slot": config.flops_per_slot(link.num_subcarriers),
        "batch_size": args.batch_size,
        "steps_per_round": args.steps,
        "rounds": args.rounds,
        "same_math": check,
        "slots_per_s": rates,
        "ratio_grouped_vs_keras_depthwise": {
            "live": speedup, "cached": rates["grouped/cached"] / rates["keras_depthwise/cached"]},
        "ratio_live_vs_cached": {f: rates[f"{f}/live"] / rates[f"{f}/cached"] for f in FORMULATIONS},
    }
    write_result(args.out, result)
    for key, rate in rates.items():
        print(f"{key:24s} {rate:6.1f} slots/s")
    print(f"grouped vs Keras depthwise, live pipeline: {speedup:.2f}x; same math: logits "
          f"{check['logits_max_rel_diff']:.1e}, gradients {check['gradients_max_rel_diff']:.1e} "
          f"(max relative difference); wrote {args.out}")


if __name__ == "__main__":
    main()
