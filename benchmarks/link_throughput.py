"""Slots/s of `LinkSimulator` (LS + LMMSE) against a bare Sionna PUSCH loop.

Both run the same scenario (the default `LinkConfig` unless --config is
given) in graph mode with the same batch size; the bare loop is Sionna's
PUSCHTransmitter -> OFDMChannel(TDL/CDL) -> PUSCHReceiver, written here
from Sionna's own blocks. Prints the ratio and writes JSON.

    python benchmarks/link_throughput.py [--batch-size 64] [--batches 20] [--out FILE]
"""

from __future__ import annotations

import link_sim  # noqa: F401  (first: its package prepares TensorFlow's environment)

import argparse
import time
from pathlib import Path

import tensorflow as tf
from sionna.phy import config as sionna_config
from sionna.phy.channel import OFDMChannel
from sionna.phy.channel.tr38901 import TDL
from sionna.phy.nr import PUSCHReceiver, PUSCHTransmitter

from link_sim import LinkConfig, LinkSimulator, make_pusch_config
from _common import RESULTS_DIR, write_result


def bare_sionna_step(config: LinkConfig):
    """A plain Sionna PUSCH link for `config` (TDL only), as a Sionna user writes it."""
    family, _, letter = config.channel_model.partition("-")
    if family != "TDL":
        raise SystemExit("the bare Sionna loop is written for TDL models; use a TDL scenario")
    tx = PUSCHTransmitter(make_pusch_config(config))
    rx = PUSCHReceiver(tx)
    model = TDL(letter, 1e-9 * sum(config.delay_spread_ns) / 2, config.carrier_frequency_hz,
                min_speed=config.speed_mps[0], max_speed=config.speed_mps[1],
                num_rx_ant=config.num_rx_ant, num_tx_ant=config.num_tx_ant)
    channel = OFDMChannel(model, tx.resource_grid, add_awgn=True, normalize_channel=True)

    @tf.function
    def step(batch_size, sinr_db):
        no = tf.pow(10.0, -sinr_db / 10.0)
        x, b = tx(batch_size)
        y = channel(x, no)
        return b, rx(y, no)

    return step


def slots_per_second(step, batch_size: int, batches: int, sinr_db: float) -> float:
    sinr = tf.constant(sinr_db, tf.float32)
    step(batch_size, sinr)  # trace and warm up
    start = time.perf_counter()
    for _ in range(batches):
        b, b_hat = step(batch_size, sinr)
    _ = b_hat.numpy()
    return batch_size * batches / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="LinkConfig JSON (default scenario otherwise)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="alternating timed rounds; best kept")
    parser.add_argument("--sinr-db", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "link_throughput.json")
    args = parser.parse_args()

    config = LinkConfig.from_json(args.config) if args.config else LinkConfig()
    sionna_config.seed = 0
    bare = bare_sionna_step(config)
    sim = LinkSimulator(config, "lmmse")
    ours = tf.function(sim.__call__)
    counts = tf.function(sim.count_errors)
    rates = {"bare_sionna": [], "link_simulator": [], "link_simulator_count_errors": []}
    for _ in range(args.repeats):  # alternate so that drift hits all alike
        rates["bare_sionna"].append(slots_per_second(bare, args.batch_size, args.batches, args.sinr_db))
        rates["link_simulator"].append(slots_per_second(ours, args.batch_size, args.batches, args.sinr_db))
        rates["link_simulator_count_errors"].append(slots_per_second(
            lambda bs, s: (counts(bs, s)["bits"],) * 2, args.batch_size, args.batches, args.sinr_db))
    best = {k: max(v) for k, v in rates.items()}
    result = {
        "benchmark": "link_throughput",
        "scenario": config.to_dict(),
        "batch_size": args.batch_size,
        "batches_per_round": args.batches,
        "sinr_db": args.sinr_db,
        "slots_per_s": best,
        "slots_per_s_all_rounds": rates,
        "ratio_link_simulator_vs_bare": best["link_simulator"] / best["bare_sionna"],
        "ratio_count_errors_vs_bare": best["link_simulator_count_errors"] / best["bare_sionna"],
        "target": "overhead within 10% of bare Sionna (ratio >= 0.9)",
    }
    write_result(args.out, result)
    for k, v in best.items():
        print(f"{k:<30} {v:8.1f} slots/s")
    print(f"LinkSimulator / bare Sionna: {result['ratio_link_simulator_vs_bare']:.3f} "
          f"(count_errors: {result['ratio_count_errors_vs_bare']:.3f}); wrote {args.out}")


if __name__ == "__main__":
    main()
