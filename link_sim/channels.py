"""Frequency-domain channel realisations for a `LinkConfig`."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from sionna.phy import Block, config as sionna_config
from sionna.phy.channel import cir_to_ofdm_channel, gen_single_sector_topology, subcarrier_frequencies
from sionna.phy.channel.tr38901 import CDL, TDL, UMi, PanelArray

from link_sim.config import LinkConfig

#: Delay spread the CDL/TDL models are built with; each sample's path delays
#: are rescaled from it to the delay spread drawn for that sample.
_REFERENCE_DELAY_SPREAD_S = 100e-9


def _panel(num_ant: int, pattern: str, carrier_frequency: float) -> PanelArray:
    """A single-polarised uniform linear array of ``num_ant`` elements."""
    return PanelArray(num_rows_per_panel=1, num_cols_per_panel=num_ant,
                      polarization="single", polarization_type="V",
                      antenna_pattern=pattern, carrier_frequency=carrier_frequency)


class ChannelSampler(Block):
    r"""Draws channel frequency responses of the scenario's channel model.

    For CDL and TDL models the RMS delay spread is drawn per sample from
    ``config.delay_spread_ns`` (the path delays of each sample are scaled),
    and the UE speed per sample from ``config.speed_mps``. The UMi model
    places the UE anew for every sample in a single 3GPP UMi sector, with
    its own large-scale parameters (path loss and shadow fading off). The
    AWGN "channel" is flat with unit gain: for SIMO all ones, for MIMO the
    columns of a DFT matrix, so that layers stay separable. Every response
    is normalised to unit average energy per receive antenna over the grid
    (Sionna's ``normalize=True``), so the SNR per receive antenna is
    :math:`1/N_0`.

    Parameters
    ----------
    config : LinkConfig
        The scenario.
    resource_grid : sionna.phy.ofdm.ResourceGrid
        The transmitter's resource grid.

    Input
    -----
    batch_size : int
        Number of independent realisations.

    Output
    ------
    h : [batch_size, 1, num_rx_ant, 1, num_tx_ant, num_ofdm_symbols, fft_size], tf.complex64
        Channel frequency response of each resource element.
    """

    def __init__(self, config: LinkConfig, resource_grid, precision=None, **kwargs):
        super().__init__(precision=precision, **kwargs)
        self._config = config
        self._num_ofdm_symbols = resource_grid.num_ofdm_symbols
        self._fft_size = resource_grid.fft_size
        self._sampling_frequency = 1.0 / resource_grid.ofdm_symbol_duration
        self._frequencies = subcarrier_frequencies(
            resource_grid.fft_size, resource_grid.subcarrier_spacing, precision=self.precision)
        family, _, letter = config.channel_model.partition("-")
        self._family = family
        fc = config.carrier_frequency_hz
        vmin, vmax = config.speed_mps
        if family == "TDL":
            self._model = TDL(letter, _REFERENCE_DELAY_SPREAD_S, fc, min_speed=vmin, max_speed=vmax,
                              num_rx_ant=config.num_rx_ant, num_tx_ant=config.num_tx_ant,
                              precision=self.precision)
        elif family in ("CDL", "UMi"):
            ut_array = _panel(config.num_tx_ant, "omni", fc)
            bs_array = _panel(config.num_rx_ant, "38.901", fc)
            if family == "CDL":
                self._model = CDL(letter, _REFERENCE_DELAY_SPREAD_S, fc, ut_array, bs_array,
                                  "uplink", min_speed=vmin, max_speed=vmax, precision=self.precision)
            else:
                self._model = UMi(fc, "low", ut_array, bs_array, "uplink", enable_pathloss=False,
                                  enable_shadow_fading=False, precision=self.precision)
        else:  # AWGN
            r = np.arange(config.num_rx_ant)[:, None]
            t = np.arange(config.num_tx_ant)[None, :]
            # [num_rx_ant, num_tx_ant]: DFT columns, unit-modulus entries
            dft = np.exp(-2j * np.pi * r * t / config.num_rx_ant)
            # [1, 1, num_rx_ant, 1, num_tx_ant, 1, 1]
            self._flat = tf.constant(dft.reshape(1, 1, config.num_rx_ant, 1, config.num_tx_ant, 1, 1),
                                     self.cdtype)

    def call(self, batch_size):
        if self._family == "AWGN":
            shape = [batch_size, 1, self._config.num_rx_ant, 1, self._config.num_tx_ant,
                     self._num_ofdm_symbols, self._fft_size]
            return tf.broadcast_to(self._flat, shape)
        if self._family == "UMi":
            vmin, vmax = self._config.speed_mps
            topology = gen_single_sector_topology(batch_size, 1, "umi", min_ut_velocity=vmin,
                                                  max_ut_velocity=vmax, precision=self.precision)
            self._model.set_topology(*topology)
        # a: [batch, 1, num_rx_ant, 1, num_tx_ant, num_paths, num_ofdm_symbols]
        # tau: [batch, 1, 1, num_paths]
        a, tau = self._model(batch_size, self._num_ofdm_symbols, self._sampling_frequency)
        if self._family != "UMi":
            lo, hi = (v * 1e-9 for v in self._config.delay_spread_ns)
            delay_spread = sionna_config.tf_rng.uniform([batch_size, 1, 1, 1], lo, hi, self.rdtype)
            tau = tau * (delay_spread / _REFERENCE_DELAY_SPREAD_S)
        return cir_to_ofdm_channel(self._frequencies, a, tau, normalize=True)
