"""Drive `LinkSimulator` from your own Sionna code with `sim_ber` and `PlotBER`.

    python examples/sim_ber_with_sionna.py          # ~2 minutes on 2 CPU cores

Each `LinkSimulator` is a Monte Carlo function ``mc_fun(batch_size, ebno_db)``
for Sionna's ``sim_ber``; its ``ebno_db`` argument is the SINR in dB.
"""

import link_sim  # noqa: F401  (first: sets up Keras 2 for TensorFlow)

import numpy as np
from sionna.phy import config
from sionna.phy.utils import PlotBER

from link_sim import LinkConfig, LinkSimulator

config.seed = 42
scenario = LinkConfig(channel_model="TDL-C", num_prb=4, speed_mps=(0.0, 20.0))
sinr_db = np.arange(5.0, 36.0, 5.0)

plot = PlotBER(f"{scenario.channel_model}, {scenario.num_prb} PRB, 256-QAM (MCS {scenario.mcs_index})")
for receiver in ["lmmse", "perfect-csi"]:
    simulator = LinkSimulator(scenario, receiver)
    plot.simulate(simulator, ebno_dbs=sinr_db, batch_size=64, max_mc_iter=10,
                  num_target_block_errors=100, legend=receiver, add_bler=True, soft_estimates=False,
                  graph_mode="graph", show_fig=False)
plot.title = "coded BER vs SINR (x axis labelled Eb/N0 by PlotBER)"
plot(save_fig=True, path="sim_ber_with_sionna.png", show_bler=True)
print("wrote sim_ber_with_sionna.png")
