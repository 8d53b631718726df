"""Training samples/s with the real data pipeline against cached tensors.

Same model, batch and steps; the only difference is where the batches come
from: `deeprx_tf.dataset.training_dataset` (Sionna link on the fly) or the
same number of batches generated once and replayed from memory. A ratio
well below 1 means the data pipeline, not the model, sets the pace.

    python benchmarks/train_throughput.py [--preset x0.25] [--num-prb 4] [--steps 40]
"""

from __future__ import annotations

import link_sim.tfenv  # noqa: F401  (before TensorFlow)

import argparse
import time
from pathlib import Path

import tensorflow as tf
import tf_keras as keras

from deeprx_tf.config import DeepRxConfig
from deeprx_tf.dataset import training_dataset
from deeprx_tf.model import build_deeprx
from deeprx_tf.training import masked_bce
from link_sim import LinkConfig
from _common import RESULTS_DIR, write_result


def samples_per_second(dataset, config, steps: int, batch_size: int) -> float:
    keras.utils.set_random_seed(0)
    model = build_deeprx(config)
    model.compile(keras.optimizers.Adam(1e-3), loss=masked_bce)
    model.fit(dataset.take(2), verbose=0)  # build, trace, warm up
    start = time.perf_counter()
    model.fit(dataset.take(steps), verbose=0)
    return steps * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="x0.25")
    parser.add_argument("--num-prb", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "train_throughput.json")
    args = parser.parse_args()

    link = LinkConfig(num_prb=args.num_prb)
    config = DeepRxConfig.preset(args.preset)
    live = training_dataset(link, args.batch_size, seed=0)
    cached_batches = list(live.take(args.steps + 2))
    cached = tf.data.Dataset.from_tensor_slices(
        tuple(tf.stack([b[i] for b in cached_batches]) for i in range(2)))
    rate_cached = samples_per_second(cached, config, args.steps, args.batch_size)
    rate_live = samples_per_second(live, config, args.steps, args.batch_size)
    result = {
        "benchmark": "train_throughput",
        "scenario": link.to_dict(),
        "preset": args.preset,
        "flops_per_slot": config.flops_per_slot(link.num_subcarriers),
        "batch_size": args.batch_size,
        "steps": args.steps,
        "samples_per_s": {"live_pipeline": rate_live, "cached_tensors": rate_cached},
        "ratio_live_vs_cached": rate_live / rate_cached,
    }
    write_result(args.out, result)
    print(f"live pipeline {rate_live:.1f} samples/s, cached tensors {rate_cached:.1f} samples/s, "
          f"ratio {rate_live / rate_cached:.2f}; wrote {args.out}")


if __name__ == "__main__":
    main()
