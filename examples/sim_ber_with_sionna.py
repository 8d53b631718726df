"""Drive `LinkSimulator` from your own Sionna code with `sim_ber` and `PlotBER`.

    python examples/sim_ber_with_sionna.py [--out sim_ber_with_sionna.png]   # ~2 minutes on 2 cores

Each `LinkSimulator` is a Monte Carlo function ``mc_fun(batch_size, ebno_db)``
for Sionna's ``sim_ber``; its ``ebno_db`` argument is the SINR in dB.
"""

from __future__ import annotations

import argparse

import link_sim  # noqa: F401  (first: sets up Keras 2 for TensorFlow)

import numpy as np
from sionna.phy import config
from sionna.phy.utils import PlotBER

from link_sim import LinkConfig, LinkSimulator


def main(argv=None) -> PlotBER:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="sim_ber_with_sionna.png")
    parser.add_argument("--num-prb", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-mc-iter", type=int, default=10)
    parser.add_argument("--sinr", default="5:35:5", help="START:STOP:STEP [dB]")
    args = parser.parse_args(argv)
    config.seed = 42
    scenario = LinkConfig(channel_model="TDL-C", num_prb=args.num_prb, speed_mps=(0.0, 20.0))
    start, stop, step = (float(v) for v in args.sinr.split(":"))
    sinr_db = np.arange(start, stop + step / 2, step)

    plot = PlotBER(f"{scenario.channel_model}, {scenario.num_prb} PRB, 256-QAM (MCS {scenario.mcs_index})")
    for receiver in ["lmmse", "perfect-csi"]:
        simulator = LinkSimulator(scenario, receiver)
        plot.simulate(simulator, ebno_dbs=sinr_db, batch_size=args.batch_size, max_mc_iter=args.max_mc_iter,
                      num_target_block_errors=100, legend=receiver, add_bler=True, soft_estimates=False,
                      graph_mode="graph", show_fig=False)
    plot.title = "coded BER vs SINR (x axis labelled Eb/N0 by PlotBER)"
    plot(save_fig=True, path=args.out, show_bler=True)
    print(f"wrote {args.out}")
    return plot


if __name__ == "__main__":
    main()
