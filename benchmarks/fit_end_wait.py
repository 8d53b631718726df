"""How long Keras ``fit`` on a finite dataset waits after its last batch, with tf.data's autotuning on and off.

The shipped model's architecture trains on the same replayed batches,
``--fits`` calls of ``fit`` over ``--steps`` batches per setting,
alternating autotuning on (tf.data's default) and off
(``tf.data.Options().autotune.enabled = False``), in one process after a
warm-up ``fit``. Each call records its wall time, the time of its batches
(from ``fit``'s start to the end of its last batch, `train_throughput.BatchEndClock`)
and what is left: the wait after the last batch. With autotuning on, that
wait ends near (2**k - 1) x 10 ms after the iterator was made, as its
thread's sleep doubles from 10 ms; this is why the training benchmarks
time a pace inside ``fit`` and why `deeprx_tf.dataset.training_dataset`
turns autotuning off. Ratio: mean wall time per call, on against off.

    python benchmarks/fit_end_wait.py [--fits 5] [--steps 12] [--batch-size 16]
"""

from __future__ import annotations

import link_sim  # noqa: F401  (first: its package prepares TensorFlow's environment)

import time

import numpy as np
import tensorflow as tf
import tf_keras as keras

from deeprx_tf.checkpoint import read_checkpoint_config
from deeprx_tf.config import NUM_OFDM_SYMBOLS
from deeprx_tf.losses import masked_bce
from deeprx_tf.model import build_deeprx
from link_sim import LinkConfig
from _common import benchmark_parser, write_result
from train_throughput import BatchEndClock, timed_steps

#: A call whose wait after its last batch is longer than this counts as waiting [s].
WAITED_S = 0.1


def replayed_batches(config, num_subcarriers: int, batch_size: int, autotune: bool) -> tf.data.Dataset:
    """Eight fixed random batches of features and 0/1 targets, repeated, autotuning on or off."""
    rng = np.random.default_rng(0)
    shape = [8, batch_size, NUM_OFDM_SYMBOLS, num_subcarriers]
    features = rng.standard_normal(shape + [config.num_input_channels]).astype(np.float32)
    target = (rng.random(shape + [config.num_outputs + 1]) > 0.5).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((features, target)).repeat()
    options = tf.data.Options()
    options.autotune.enabled = autotune
    return dataset.with_options(options)


def timed_fit(model: keras.Model, dataset: tf.data.Dataset, steps: int) -> dict:
    clock = BatchEndClock()
    start = time.perf_counter()
    model.fit(dataset.take(steps), verbose=0, callbacks=[clock])
    end = time.perf_counter()
    return {"wall_s": end - start, "batches_s": clock.times[-1] - start, "wait_s": end - clock.times[-1]}


def main():
    parser = benchmark_parser(__doc__, "fit_end_wait.json")
    parser.add_argument("--fits", type=int, default=5, help="calls of fit per setting")
    parser.add_argument("--steps", type=timed_steps, default=12, help="batches per call (>= 2)")
    args = parser.parse_args()
    if args.fits < 1:
        parser.error(f"--fits must be at least 1, got {args.fits}")

    link = LinkConfig(num_prb=args.num_prb)
    config = read_checkpoint_config("default")
    data = {name: replayed_batches(config, link.num_subcarriers, args.batch_size, autotune)
            for name, autotune in (("autotune_on", True), ("autotune_off", False))}
    keras.utils.set_random_seed(0)
    model = build_deeprx(config)
    model.compile(keras.optimizers.Adam(1e-5), loss=masked_bce)
    model.fit(data["autotune_off"].take(args.steps), verbose=0)  # traces the step
    calls = {name: [] for name in data}
    for index in range(args.fits):
        order = list(data) if index % 2 == 0 else list(data)[::-1]
        for name in order:
            calls[name].append(timed_fit(model, data[name], args.steps))
    by_setting = {name: {"calls": runs,
                         "calls_that_waited": sum(run["wait_s"] > WAITED_S for run in runs),
                         "mean_wall_s": float(np.mean([run["wall_s"] for run in runs])),
                         "mean_wait_s": float(np.mean([run["wait_s"] for run in runs]))}
                  for name, runs in calls.items()}
    ratio = by_setting["autotune_on"]["mean_wall_s"] / by_setting["autotune_off"]["mean_wall_s"]
    write_result(args.out, {"benchmark": "fit_end_wait", "scenario": link.to_dict(), "batch_size": args.batch_size,
                            "steps_per_fit": args.steps, "fits": args.fits, "waited_threshold_s": WAITED_S,
                            "by_setting": by_setting, "ratio_wall_on_vs_off": ratio})
    for name, entry in by_setting.items():
        waits = ", ".join(f"{run['wait_s']:.2f}" for run in entry["calls"])
        print(f"{name:13s} {entry['calls_that_waited']}/{args.fits} calls waited after their last batch "
              f"(waits {waits} s); mean fit {entry['mean_wall_s']:.2f} s")
    print(f"mean fit time, autotuning on / off: {ratio:.2f}x; wrote {args.out}")


if __name__ == "__main__":
    main()
