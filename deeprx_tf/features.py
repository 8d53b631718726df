"""Between Sionna's PUSCH resource grid and DeepRx's tensors: features, LLRs, labels."""

from __future__ import annotations

import link_sim.tfenv  # noqa: F401  (before TensorFlow)

import numpy as np
import tensorflow as tf
from sionna.phy.nr import PUSCHLSChannelEstimator
from sionna.phy.ofdm import ResourceGridMapper

from link_sim.transmitter import tb_encoder_of


class GridLayout:
    r"""The DMRS grid and data resource elements of a single-layer PUSCH transmitter.

    Built from Sionna's own objects: the pilot grid ``Xp`` is what the
    transmitter's `ResourceGridMapper` puts on the grid when all data
    symbols are zero, and the data resource elements (in the order Sionna
    maps coded bits to them) are where the pilot pattern's mask is 0.

    Parameters
    ----------
    pusch_transmitter : sionna.phy.nr.PUSCHTransmitter
        A transmitter with one UE and one layer.
    noise_input : bool
        `features` adds ``log10(no)`` as a channel (`DeepRxConfig.noise_input`).
    ls_interpolation : None, "nn" or "lin"
        `features` adds the LS channel estimate interpolated over the grid
        by Sionna's `PUSCHLSChannelEstimator` with this interpolation
        (`DeepRxConfig.ls_interpolation`).

    Attributes
    ----------
    pilot_grid : [num_ofdm_symbols, fft_size], tf.complex64
        DMRS symbols at the pilot resource elements, 0 elsewhere.
    data_mask : [num_ofdm_symbols, fft_size], tf.float32
        1 at data resource elements, 0 elsewhere.
    data_indices : [num_data_re], tf.int32
        Flat (row-major) grid indices of the data resource elements, in
        the order of the transport block's coded bits.
    num_bits_per_symbol : int
        Bits per QAM symbol.
    """

    def __init__(self, pusch_transmitter, noise_input: bool = False, ls_interpolation: str | None = None):
        rg = pusch_transmitter.resource_grid
        if rg.num_tx != 1 or rg.num_streams_per_tx != 1:
            raise ValueError("DeepRx receives one UE with one layer; this transmitter has "
                             f"{rg.num_tx} UE(s) with {rg.num_streams_per_tx} layer(s)")
        self.num_ofdm_symbols = int(rg.num_ofdm_symbols)
        self.fft_size = int(rg.fft_size)
        num_data = int(rg.num_data_symbols)
        # coded bits per transport block fill the data REs exactly
        self.num_bits_per_symbol = int(tb_encoder_of(pusch_transmitter).n) // num_data
        # [1, num_tx=1, num_streams=1, num_ofdm_symbols, fft_size] -> [symbols, subcarriers]
        grid = ResourceGridMapper(rg)(tf.zeros([1, 1, 1, num_data], tf.complex64))
        self.pilot_grid = grid[0, 0, 0]
        # pilot pattern mask [num_tx, num_streams, symbols, subcarriers]: 1 = reserved
        mask = np.asarray(rg.pilot_pattern.mask)[0, 0] == 0
        self.data_mask = tf.constant(mask.astype(np.float32))
        self.data_indices = tf.constant(np.flatnonzero(mask.reshape(-1)), tf.int32)
        if self.data_indices.shape[0] != num_data:
            raise ValueError("pilot pattern and resource grid disagree on the data resource elements")
        self.noise_input = noise_input
        self.ls_interpolation = ls_interpolation
        self._ls_estimator = None
        if ls_interpolation is not None:
            # the estimator Sionna's PUSCHReceiver builds (from the same transmitter
            # attributes), with the interpolation asked for
            tx = pusch_transmitter
            self._ls_estimator = PUSCHLSChannelEstimator(
                rg, tx._dmrs_length, tx._dmrs_additional_position, tx._num_cdm_groups_without_data,
                interpolation_type=ls_interpolation)

    @property
    def num_data_re(self) -> int:
        """Data resource elements per slot."""
        return int(self.data_indices.shape[0])

    def features(self, y, no=None):
        """DeepRx input features of a received grid.

        Parameters
        ----------
        y : [batch, 1, num_rx_ant, num_ofdm_symbols, fft_size], tf.complex64
            Received post-FFT grid.
        no : None, scalar or [batch], tf.float32
            Noise (plus interference) variance per resource element; needed
            with ``noise_input``, and used by the LS estimator if given.

        Returns
        -------
        [batch, num_ofdm_symbols, fft_size, num_channels], tf.float32
            On the channel axis, in this order: real and imaginary parts of Y
            (num_rx_ant each), Xp (1 each) and the raw LS estimate
            Y * conj(Xp) (num_rx_ant each, 0 off the pilots); with
            ``noise_input``, ``log10(no)`` (1); with ``ls_interpolation``, the
            real and imaginary parts of the interpolated LS channel estimate
            (num_rx_ant each). ``num_channels`` is
            `DeepRxConfig.num_input_channels`.
        """
        received = y
        # [batch, 1, num_rx_ant, S, F] -> [batch, S, F, num_rx_ant]
        y = tf.transpose(y[:, 0], [0, 2, 3, 1])
        # [S, F] -> [batch, S, F, 1]
        ones = tf.concat([tf.shape(y)[:3], [1]], 0)
        xp = tf.broadcast_to(self.pilot_grid[None, :, :, None], ones)
        ls = y * tf.math.conj(xp)
        parts = [tf.math.real(y), tf.math.imag(y), tf.math.real(xp), tf.math.imag(xp),
                 tf.math.real(ls), tf.math.imag(ls)]
        if self.noise_input:
            if no is None:
                raise ValueError("this DeepRx takes the noise variance as input: pass no")
            # scalar or [batch] -> [batch, S, F, 1]
            log_no = tf.math.log(tf.cast(no, tf.float32)) / tf.math.log(10.0)
            parts.append(tf.broadcast_to(tf.reshape(log_no, [-1, 1, 1, 1]), ones))
        if self._ls_estimator is not None:
            no_ls = tf.ones([], tf.float32) if no is None else tf.cast(no, tf.float32)
            # h_hat [batch, 1, num_rx_ant, 1, 1, S, F] -> [batch, S, F, num_rx_ant]
            h_hat, _ = self._ls_estimator(received, no_ls)
            h_hat = tf.transpose(h_hat[:, 0, :, 0, 0], [0, 2, 3, 1])
            parts += [tf.math.real(h_hat), tf.math.imag(h_hat)]
        return tf.concat(parts, axis=-1)

    def grid_to_llr(self, logits):
        """Per-RE bit logits to the transport block's coded-bit LLRs.

        Parameters
        ----------
        logits : [batch, num_ofdm_symbols, fft_size, num_bits_per_symbol], tf.float32

        Returns
        -------
        [batch, 1, num_data_re * num_bits_per_symbol], tf.float32
        """
        bits = self.num_bits_per_symbol
        # [batch, S, F, bits] -> [batch, S * F, bits] -> [batch, num_data_re, bits]
        flat = tf.reshape(logits, [-1, self.num_ofdm_symbols * self.fft_size, bits])
        data = tf.gather(flat, self.data_indices, axis=1)
        # [batch, num_data_re, bits] -> [batch, 1, num_data_re * bits]
        return tf.reshape(data, [-1, 1, self.num_data_re * bits])

    def bits_to_grid(self, c):
        """Coded bits to per-RE bit labels on the grid (0 off the data REs).

        Parameters
        ----------
        c : [batch, 1, num_data_re * num_bits_per_symbol], tf.float32

        Returns
        -------
        [batch, num_ofdm_symbols, fft_size, num_bits_per_symbol], tf.float32
        """
        bits = self.num_bits_per_symbol
        batch = tf.shape(c)[0]
        # [batch, 1, num_data_re * bits] -> [num_data_re, batch, bits] for the scatter
        data = tf.transpose(tf.reshape(c, [batch, self.num_data_re, bits]), [1, 0, 2])
        grid = tf.scatter_nd(self.data_indices[:, None], data,
                             tf.stack([self.num_ofdm_symbols * self.fft_size, batch, bits]))
        # [S * F, batch, bits] -> [batch, S, F, bits]
        return tf.reshape(tf.transpose(grid, [1, 0, 2]), [batch, self.num_ofdm_symbols, self.fft_size, bits])
