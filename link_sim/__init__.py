"""Sionna 5G NR PUSCH link-level simulation: scenarios, channels, baseline
receivers, BER/BLER sweeps, metrics and plots.

This package knows nothing of DeepRx; learned receivers plug in through the
receiver contract of `link_sim.receivers`.
"""

import link_sim.tfenv  # noqa: F401  (must precede TensorFlow)

from link_sim.config import CHANNEL_MODELS, LinkConfig
from link_sim.channels import ChannelSampler
from link_sim.transmitter import LinkTransmitter, make_pusch_config, tb_encoder_of
from link_sim.receivers import BASELINE_RECEIVERS, CodedBitReceiver, LMMSEReceiver, make_baseline_receiver
from link_sim.simulator import LinkBatch, LinkSimulator

__all__ = [
    "BASELINE_RECEIVERS", "CHANNEL_MODELS", "ChannelSampler", "CodedBitReceiver", "LMMSEReceiver",
    "LinkBatch", "LinkConfig", "LinkSimulator", "LinkTransmitter", "make_baseline_receiver",
    "make_pusch_config", "tb_encoder_of",
]
