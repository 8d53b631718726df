"""Slots/s of `DeepRxReceiver` against Sionna's LS + LMMSE receiver on the same grid, with oneDNN on and off.

Each process times, on the same received slots: the LS+LMMSE receiver
(`LMMSEReceiver`, Sionna's PUSCHReceiver defaults), DeepRxReceiver with the
paper preset and with the shipped default model, each in graph mode and
with XLA, with the dilated depthwise convolutions as grouped convolutions
and again in Keras' own form (``*_keras_depthwise``: SpaceToBatchND); the
full receivers include LDPC decoding. It also times the bare networks
(features -> logits) and reports their achieved FLOP/s against a float32
matmul peak measured in the same process. One process runs with
TensorFlow's oneDNN kernels off and one with them on
(``TF_ENABLE_ONEDNN_OPTS``), alternating, best of ``--rounds``; each
records the form the package picks there by default
(`deeprx_tf.layers.dilated_conv_kernel`), and a form without a kernel in a
setting is recorded as `None` with TensorFlow's message. JSON out.

    python benchmarks/deeprx_inference.py [--num-prb 4] [--batch-size 16] [--repeats 3] [--rounds 2]
"""

from __future__ import annotations

import link_sim  # noqa: F401  (first: its package prepares TensorFlow's environment)

import time

import tensorflow as tf
from sionna.phy import config as sionna_config

from deeprx_tf.checkpoint import load_checkpoint
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.features import GridLayout
from deeprx_tf.layers import dilated_conv_kernel, onednn_enabled, set_dilated_conv_kernel, with_keras_layers
from deeprx_tf.model import build_deeprx
from deeprx_tf.receiver import DeepRxReceiver
from deeprx_tf.shipped import shipped_checkpoint
from link_sim import LinkConfig, LinkSimulator
from link_sim.receivers import LMMSEReceiver
from link_sim.results import write_json
from _common import best_of, benchmark_parser, run_onednn_rounds, tf_error_line, write_result

_NO_KERNEL = (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError)


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


def timed(rates: dict, errors: dict, key: str, fn, args, items: int, iters: int, repeats: int) -> None:
    """``rates[key]`` = `best_rate`, or `None` with TensorFlow's message in ``errors`` if no kernel runs it."""
    try:
        rates[key] = best_rate(fn, args, items, iters, repeats)
    except _NO_KERNEL as err:
        rates[key], errors[key] = None, tf_error_line(err)


def worker(args) -> None:
    """One process, one oneDNN setting: every receiver and network once."""
    auto = dilated_conv_kernel()
    set_dilated_conv_kernel("grouped")  # the grouped form is measured wherever it runs
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

    receivers = {"lmmse": LMMSEReceiver(tx)}
    for name, (config, model) in models.items():
        receivers[f"deeprx_{name}"] = DeepRxReceiver(tx, model, config=config)
    rates, net_rates, flops, errors = {}, {}, {}, {}
    for mode, jit in (("graph", False), ("xla", True)):
        for name, rx in receivers.items():
            fn = tf.function(lambda y, no, rx=rx: rx(y, no), jit_compile=jit)
            timed(rates, errors, f"{name}/{mode}", fn, (batch.y, batch.no), args.batch_size, args.iters,
                  args.repeats)
    for name, (config, model) in models.items():
        features = GridLayout(tx, **config.feature_options()).features(batch.y, batch.no)
        for mode, jit in (("graph", False), ("xla", True)):
            fn = tf.function(lambda f, model=model: model(f, training=False), jit_compile=jit)
            timed(net_rates, errors, f"{name}/{mode}", fn, (features,), args.batch_size, args.iters,
                  args.repeats)
        flops[name] = config.flops_per_slot(link.num_subcarriers)
    write_json(args.worker_out, {"onednn": onednn_enabled(), "default_kernel": auto,
                                 "receiver_slots_per_s": rates, "network_slots_per_s": net_rates,
                                 "flops_per_slot": flops, "errors": errors,
                                 "matmul_peak_flops_per_s": {"peak": matmul_peak()}})


def ratio(a, b):
    return a / b if a is not None and b is not None else None


def summarize(runs: list[dict]) -> dict:
    """One oneDNN setting: best rates over its rounds, achieved FLOP/s and the grouped/depthwise ratios."""
    rates, net_rates = best_of(runs, "receiver_slots_per_s"), best_of(runs, "network_slots_per_s")
    peak = best_of(runs, "matmul_peak_flops_per_s")["peak"]
    flops = runs[0]["flops_per_slot"]
    achieved = {k: (v * flops[k.split("/")[0]] if v is not None else None) for k, v in net_rates.items()}
    grouped = [k for k in flops if not k.endswith("_keras_depthwise")]
    default = runs[0]["default_kernel"]
    return {
        "onednn": runs[0]["onednn"],
        "default_kernel": default,
        "receiver_slots_per_s": rates,
        "ratio_vs_lmmse_graph": {k: ratio(v, rates["lmmse/graph"]) for k, v in rates.items()},
        "network_slots_per_s": net_rates,
        "default_network_slots_per_s": {
            f"{k}/{mode}": net_rates[f"{k}{'' if default == 'grouped' else '_keras_depthwise'}/{mode}"]
            for k in grouped for mode in ("graph", "xla")},
        "flops_per_slot": flops,
        "achieved_flops_per_s": achieved,
        "matmul_peak_flops_per_s": peak,
        "fraction_of_matmul_peak": {k: ratio(v, peak) for k, v in achieved.items()},
        "ratio_grouped_vs_keras_depthwise": {
            f"{k}/{mode}": ratio(net_rates[f"{k}/{mode}"], net_rates[f"{k}_keras_depthwise/{mode}"])
            for k in grouped for mode in ("graph", "xla")},
        "errors": runs[0]["errors"],
    }


def main():
    parser = benchmark_parser(__doc__, "deeprx_inference.json")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.worker_out:
        return worker(args)

    passed = ["--num-prb", str(args.num_prb), "--batch-size", str(args.batch_size), "--iters", str(args.iters),
              "--repeats", str(args.repeats)]
    settings = {name: summarize(runs) for name, runs in run_onednn_rounds(__file__, passed, args.rounds).items()}
    result = {"benchmark": "deeprx_inference", "scenario": LinkConfig(num_prb=args.num_prb).to_dict(),
              "batch_size": args.batch_size, "rounds": args.rounds, "by_onednn": settings}
    write_result(args.out, result)
    for name, s in settings.items():
        print(f"{name}: default kernel {s['default_kernel']}")
        for k, v in s["receiver_slots_per_s"].items():
            shown = f"{v:8.1f} slots/s  ({v / s['receiver_slots_per_s']['lmmse/graph']:.2f} x LS+LMMSE graph)" \
                if v is not None else "no kernel: " + s["errors"][k]
            print(f"  {k:<34} {shown}")
        for k, v in s["network_slots_per_s"].items():
            shown = f"{v:8.1f} slots/s" if v is not None else "no kernel: " + s["errors"][k]
            print(f"  network {k:<26} {shown}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
