"""Slots/s of `DeepRxReceiver` against Sionna's LS + LMMSE receiver on the same grid.

One run times, on the same received slots: the LS+LMMSE receiver
(`LMMSEReceiver`, Sionna's PUSCHReceiver defaults), DeepRxReceiver with the
paper preset and with the shipped default model, each in graph mode and
with XLA, and both networks again in Keras' own formulation of the dilated
depthwise convolutions (``*_keras_depthwise``: SpaceToBatchND, what
deeprx-tf ran before `deeprx_tf.layers.GroupedDepthwiseConv2D`); the full
receivers include LDPC decoding. It also times the bare
networks (features -> logits) and reports their achieved FLOP/s against a
float32 matmul peak measured in the same run. JSON out.

    python benchmarks/deeprx_inference.py [--num-prb 4] [--batch-size 16] [--repeats 3]
"""

from __future__ import annotations

import link_sim.tfenv  # noqa: F401  (before TensorFlow)

import argparse
import time
from pathlib import Path

import tensorflow as tf
from sionna.phy import config as sionna_config

from deeprx_tf.checkpoint import load_checkpoint
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.features import GridLayout
from deeprx_tf.layers import with_keras_layers
from deeprx_tf.model import build_deeprx
from deeprx_tf.receiver import DeepRxReceiver
from deeprx_tf.shipped import shipped_checkpoint
from link_sim import LinkConfig, LinkSimulator
from link_sim.receivers import LMMSEReceiver
from _common import RESULTS_DIR, write_result


def best_rate(fn, args, items: int, iters: int, repeats: int) -> float:
    """Items per second of ``fn(*args)``, best of ``repeats`` rounds of ``iters`` calls."""
    out = fn(*args)  # trace + warm up
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iters):
            out = fn(*args)
        tf.nest.map_structure(lambda t: t.numpy(), out)
        best = max(best, items * iters / (time.perf_counter() - start))
    return best


def matmul_peak(n: int = 2048, iters: int = 10, repeats: int = 3) -> float:
    """FLOP/s of a float32 n x n matmul on this machine (2 n^3 FLOPs each)."""
    a = tf.random.normal([n, n])
    mm = tf.function(lambda a: tf.matmul(a, a))
    return best_rate(mm, (a,), 2 * n ** 3, iters, repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-prb", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "deeprx_inference.json")
    args = parser.parse_args()

    link = LinkConfig(num_prb=args.num_prb)
    sim = LinkSimulator(link, "lmmse")
    sionna_config.seed = 0
    batch = sim.transmit(args.batch_size, 25.0)
    tx = sim.transmitter
    models = {"paper": (DeepRxConfig.preset("paper"), build_deeprx(DeepRxConfig.preset("paper")))}
    try:
        shipped = load_checkpoint(shipped_checkpoint())
        models["default_model"] = (shipped.config, shipped.model)
    except FileNotFoundError:
        pass
    for name, (config, model) in list(models.items()):
        models[f"{name}_keras_depthwise"] = (config, with_keras_layers(model))

    def make_receivers():
        receivers = {"lmmse": LMMSEReceiver(tx)}
        for name, (config, model) in models.items():
            receivers[f"deeprx_{name}"] = DeepRxReceiver(tx, model, config=config)
        for rx in receivers.values():
            # one eager call first: Sionna's CRC blocks build lazily, and a build inside one
            # tf.function would leave tensors that a second function cannot use
            rx(batch.y, batch.no)
        return receivers

    rates, net_rates, flops = {}, {}, {}
    for mode, jit in (("graph", False), ("xla", True)):
        for name, rx in make_receivers().items():
            fn = tf.function(lambda y, no, rx=rx: rx(y, no), jit_compile=jit)
            rates[f"{name}/{mode}"] = best_rate(fn, (batch.y, batch.no), args.batch_size, args.iters,
                                                args.repeats)
    for name, (config, model) in models.items():
        features = GridLayout(tx, **config.feature_options()).features(batch.y, batch.no)
        for mode, jit in (("graph", False), ("xla", True)):
            fn = tf.function(lambda f, model=model: model(f, training=False), jit_compile=jit)
            net_rates[f"{name}/{mode}"] = best_rate(fn, (features,), args.batch_size, args.iters,
                                                    args.repeats)
        flops[name] = config.flops_per_slot(link.num_subcarriers)
    peak = matmul_peak()
    achieved = {k: net_rates[k] * flops[k.split("/")[0]] for k in net_rates}
    result = {
        "benchmark": "deeprx_inference",
        "scenario": link.to_dict(),
        "batch_size": args.batch_size,
        "receiver_slots_per_s": rates,
        "ratio_vs_lmmse_graph": {k: v / rates["lmmse/graph"] for k, v in rates.items()},
        "network_slots_per_s": net_rates,
        "flops_per_slot": flops,
        "achieved_flops_per_s": achieved,
        "matmul_peak_flops_per_s": peak,
        "fraction_of_matmul_peak": {k: v / peak for k, v in achieved.items()},
        "ratio_grouped_vs_keras_depthwise": {
            f"{k}/{mode}": net_rates[f"{k}/{mode}"] / net_rates[f"{k}_keras_depthwise/{mode}"]
            for k in models if not k.endswith("_keras_depthwise") for mode in ("graph", "xla")},
    }
    write_result(args.out, result)
    for k, v in rates.items():
        print(f"{k:<28} {v:8.1f} slots/s  ({v / rates['lmmse/graph']:.2f} x LS+LMMSE graph)")
    for k, v in achieved.items():
        print(f"network {k:<20} {v / 1e9:7.1f} GFLOP/s = {v / peak:.2f} of matmul peak {peak / 1e9:.1f} GFLOP/s")
    for k, v in result["ratio_grouped_vs_keras_depthwise"].items():
        print(f"network {k:<20} grouped / Keras depthwise {v:.2f}x")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
