"""Sionna 5G NR PUSCH link-level simulation: scenarios, channels, baseline
receivers, BER/BLER sweeps, metrics and plots.

This package knows nothing of DeepRx; learned receivers plug in through the
receiver contract of `link_sim.receivers`. The public names below are
imported on first use (TensorFlow and Sionna load then, not before).
"""

import link_sim.tfenv  # noqa: F401  (must precede TensorFlow)
from link_sim.lazy import lazy_exports

_EXPORTS = {
    "CHANNEL_MODELS": "link_sim.config",
    "LinkConfig": "link_sim.config",
    "ChannelSampler": "link_sim.channels",
    "LinkTransmitter": "link_sim.transmitter",
    "make_pusch_config": "link_sim.transmitter",
    "tb_encoder_of": "link_sim.transmitter",
    "transport_block_decoder": "link_sim.transmitter",
    "BASELINE_RECEIVERS": "link_sim.receivers",
    "CodedBitReceiver": "link_sim.receivers",
    "LMMSEReceiver": "link_sim.receivers",
    "make_baseline_receiver": "link_sim.receivers",
    "LinkBatch": "link_sim.simulator",
    "LinkSimulator": "link_sim.simulator",
    "SweepPoint": "link_sim.sweep",
    "SweepResult": "link_sim.sweep",
    "run_sweep": "link_sim.sweep",
    "parse_sinr_grid": "link_sim.sweep",
    "compare_receivers": "link_sim.compare",
    "geometric_mean_ber": "link_sim.metrics",
    "sinr_at_ber": "link_sim.metrics",
    "sinr_gain_at_ber": "link_sim.metrics",
    "TargetNotReached": "link_sim.metrics",
    "plot_ber": "link_sim.plots",
}

__all__ = list(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
