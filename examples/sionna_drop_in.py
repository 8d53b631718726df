"""DeepRx in place of Sionna's `PUSCHReceiver`, in plain Sionna code.

    python examples/sionna_drop_in.py [--batch-size 64] [--batches 4] [--sinr 10,20,30]

The link is the one of Sionna's PUSCH tutorial (a `PUSCHTransmitter`, an
`OFDMChannel` over a 3GPP TDL-C model with two receive antennas), set up
as the shipped DeepRx was trained: 4 PRB, MCS 20 of the 256-QAM table,
one DMRS symbol. The receiver is first Sionna's own `PUSCHReceiver`
(LS channel estimation + LMMSE), then `DeepRxReceiver` with the shipped
checkpoint: the same call, ``b_hat = rx(y, no)``. Prints the coded BER
and BLER of each per SINR (per resource element and receive antenna).
"""

from __future__ import annotations

import argparse

import deeprx_tf  # noqa: F401  (first: makes tf.keras Keras 2, before TensorFlow loads)

import tensorflow as tf
from sionna.phy import config
from sionna.phy.channel import OFDMChannel
from sionna.phy.channel.tr38901 import TDL
from sionna.phy.nr import PUSCHConfig, PUSCHReceiver, PUSCHTransmitter
from sionna.phy.utils import compute_ber, compute_bler

from deeprx_tf import DeepRxReceiver, load_checkpoint, shipped_checkpoint


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64, help="slots per batch")
    parser.add_argument("--batches", type=int, default=4, help="batches per SINR point")
    parser.add_argument("--sinr", default="10,20,30", help="SINR points [dB]")
    args = parser.parse_args(argv)
    config.seed = 1

    # Sionna's PUSCH tutorial set-up, with the shipped model's scenario
    pusch_config = PUSCHConfig()
    pusch_config.carrier.subcarrier_spacing = 30
    pusch_config.carrier.n_size_grid = 4
    pusch_config.tb.mcs_table = 2  # 256-QAM
    pusch_config.tb.mcs_index = 20
    pusch_config.dmrs.additional_position = 0  # one DMRS symbol
    transmitter = PUSCHTransmitter(pusch_config)
    tdl = TDL("C", delay_spread=300e-9, carrier_frequency=3.5e9, min_speed=0.0, max_speed=20.0,
              num_rx_ant=2)
    channel = OFDMChannel(tdl, transmitter.resource_grid, add_awgn=True, normalize_channel=True)

    checkpoint = load_checkpoint(shipped_checkpoint())
    receivers = {"Sionna PUSCHReceiver (LS + LMMSE)": PUSCHReceiver(transmitter),
                 "DeepRxReceiver (shipped)": DeepRxReceiver(transmitter, checkpoint)}

    @tf.function
    def run(receiver, no):
        x, b = transmitter(args.batch_size)
        y = channel(x, no)
        return b, receiver(y, no)

    results = {}
    for name, receiver in receivers.items():
        results[name] = {}
        for sinr in (float(v) for v in args.sinr.split(",")):
            no = tf.constant(10.0 ** (-sinr / 10.0), tf.float32)
            batches = [run(receiver, no) for _ in range(args.batches)]
            b = tf.concat([bb for bb, _ in batches], 0)
            b_hat = tf.concat([bh for _, bh in batches], 0)
            ber, bler = float(compute_ber(b, b_hat)), float(compute_bler(b, b_hat))
            results[name][sinr] = {"coded_ber": ber, "bler": bler}
            print(f"{name:<34} SINR {sinr:5.1f} dB  coded BER {ber:.3e}  BLER {bler:.3f}")
    return results


if __name__ == "__main__":
    main()
