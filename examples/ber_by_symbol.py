"""Uncoded BER of each OFDM symbol of the slot: where in time each receiver's errors are.

    python examples/ber_by_symbol.py [CKPT ...] --out ber_by_symbol.json \
        [--sinr 30] [--slots 512] [--num-dmrs-symbols 1] [--speed MIN,MAX] [--seed 0]

On the default scenario (`link_sim.LinkConfig()`: TDL-C, UE at 0-20 m/s,
4 PRB, MCS 20) with the DMRS count given, the same slots (``--seed``) for
every receiver (``--speed`` narrows the UE speeds [m/s]): LS+LMMSE,
perfect CSI and DeepRx with each checkpoint
(folder or shipped name; default: the shipped model; as `DeepRxReceiver`
receives a link, with the checkpoint's batch-norm statistics of the DMRS
count where it has them). Hard decisions on
each receiver's coded-bit LLRs (``llr > 0``, as `LinkSimulator.count_errors`)
are put back on the resource grid (`deeprx_tf.features.GridLayout.bits_to_grid`)
and counted per OFDM symbol. With one DMRS symbol the receiver has to
follow the channel through the slot from that one symbol: errors that grow
with a symbol's distance from the pilot are errors of that tracking, not of
noise, which is the same on every symbol.
"""

from __future__ import annotations

import link_sim  # noqa: F401  (first: its package prepares TensorFlow's environment)

import argparse
from pathlib import Path

import numpy as np
import tensorflow as tf
from sionna.phy import config as sionna_config

from deeprx_tf.checkpoint import load_checkpoint
from deeprx_tf.features import GridLayout
from deeprx_tf.receiver import DeepRxReceiver
from link_sim import LinkConfig, LinkSimulator
from link_sim.receivers import make_baseline_receiver
from link_sim.results import write_json

BATCH_SIZE = 64


def symbol_errors(layout: GridLayout, c, llr) -> tuple[np.ndarray, np.ndarray]:
    """Bit errors and bits per OFDM symbol, ``[num_ofdm_symbols]`` each, of one batch.

    ``c`` and ``llr`` : [batch, 1, num_coded_bits], the coded bits and a receiver's LLRs.
    """
    # [batch, S, F, bits] each; the data mask keeps the DMRS and empty REs out
    wrong = layout.bits_to_grid(tf.cast(tf.cast(llr > 0, c.dtype) != c, tf.float32))
    counted = tf.broadcast_to(layout.data_mask[None, :, :, None], tf.shape(wrong))
    return (tf.reduce_sum(wrong * counted, axis=[0, 2, 3]).numpy(),
            tf.reduce_sum(counted, axis=[0, 2, 3]).numpy())


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*", default=["default"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sinr", type=float, default=30.0, help="SINR [dB]")
    parser.add_argument("--slots", type=int, default=512, help=f"slots, in batches of {BATCH_SIZE}")
    parser.add_argument("--num-dmrs-symbols", type=int, choices=(1, 2), default=1)
    parser.add_argument("--speed", help="UE speed range MIN,MAX [m/s] (default: the scenario's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.slots < 1:
        parser.error(f"--slots must be at least 1, got {args.slots}")

    config = LinkConfig(num_dmrs_symbols=args.num_dmrs_symbols)
    if args.speed is not None:
        try:
            low, high = (float(v) for v in args.speed.split(","))
            config = config.replace(speed_mps=(low, high))
        except ValueError as err:  # not two numbers, or a range LinkConfig refuses
            parser.error(f"--speed {args.speed}: {err}")
    sim = LinkSimulator(config, "lmmse")
    layout = GridLayout(sim.transmitter)
    receivers = {"LS+LMMSE": make_baseline_receiver("lmmse", sim.transmitter),
                 "perfect CSI": make_baseline_receiver("perfect-csi", sim.transmitter)}
    for name in args.checkpoints:
        receivers[f"DeepRx {Path(name).name}"] = DeepRxReceiver(sim.transmitter, load_checkpoint(name))
    compute = {name: tf.function(rx.compute_llr) for name, rx in receivers.items()}
    transmit = tf.function(sim.transmit)

    sionna_config.seed = args.seed
    errors = {name: 0.0 for name in receivers}
    bits = 0.0
    for start in range(0, args.slots, BATCH_SIZE):
        batch = transmit(min(BATCH_SIZE, args.slots - start), tf.constant(args.sinr, tf.float32))
        for name, llr_of in compute.items():
            wrong, counted = symbol_errors(layout, batch.c, llr_of(batch.y, batch.no, batch.h))
            errors[name] = errors[name] + wrong
        bits = bits + counted  # the same data REs whichever receiver
    has_data = bits > 0
    dmrs = [int(s) for s in np.flatnonzero(~has_data)]  # symbols without data: the DMRS (and empty ones)
    ber = {name: [float(e / n) if n > 0 else None for e, n in zip(errors[name], bits)] for name in receivers}
    report = {"scenario": config.to_dict(), "sinr_db": args.sinr, "slots": args.slots, "seed": args.seed,
              "symbols_without_data": dmrs, "bits_per_symbol": [float(n) for n in bits],
              "uncoded_ber_by_symbol": ber,
              "uncoded_ber": {name: float(errors[name].sum() / bits.sum()) for name in receivers}}
    write_json(args.out, report)
    print("symbol   " + " ".join(f"{name[:14]:>14}" for name in receivers))
    for s in range(len(bits)):
        cells = " ".join(f"{'pilot':>14}" if ber[name][s] is None else f"{ber[name][s]:14.2e}"
                         for name in receivers)
        print(f"{s:6d}   {cells}")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
