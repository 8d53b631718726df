"""Between Sionna's PUSCH resource grid and DeepRx's tensors: features, LLRs, labels."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from sionna.phy.nr import PUSCHLSChannelEstimator
from sionna.phy.mimo import StreamManagement
from sionna.phy.ofdm import LMMSEEqualizer, ResourceGridMapper

from link_sim.errors import InputError
from link_sim.transmitter import tb_encoder_of


class GridLayout:
    r"""The DMRS grids and data resource elements of a one-UE PUSCH transmitter.

    Built from Sionna's own objects: the pilot grid ``Xp`` of each layer is
    what the transmitter's `ResourceGridMapper` puts on that layer's grid
    when all data symbols are zero (each DMRS port with its CDM group and
    cover code), and the data resource elements (in the order Sionna maps
    coded bits to them) are where the pilot pattern's mask is 0. Sionna's
    `LayerMapper` sends QAM symbol ``k`` of the transport block to layer
    ``k % num_layers`` at data resource element ``k // num_layers``, so the
    coded bits of a data RE are its layers' bits in layer order: one
    layer-major vector of ``num_layers * num_bits_per_symbol`` logits per RE.

    Parameters
    ----------
    pusch_transmitter : sionna.phy.nr.PUSCHTransmitter
        A transmitter with one UE and one to four layers.
    noise_input : bool
        `features` adds ``log10(no)`` as a channel (`DeepRxConfig.noise_input`).
    ls_interpolation : None, "nn" or "lin"
        `features` adds the LS channel estimate interpolated over the grid
        by Sionna's `PUSCHLSChannelEstimator` with this interpolation
        (`DeepRxConfig.ls_interpolation`).
    equalized_input : bool
        `features` adds the LMMSE symbol estimates and their effective noise
        variance of Sionna's LS (linear interpolation) + LMMSE equalizer
        (`DeepRxConfig.equalized_input`).

    Attributes
    ----------
    pilot_grid : [num_ofdm_symbols, fft_size, num_layers], tf.complex64
        DMRS symbols of each layer at its pilot resource elements, 0 elsewhere.
    data_mask : [num_ofdm_symbols, fft_size], tf.float32
        1 at data resource elements, 0 elsewhere.
    data_indices : [num_data_re], tf.int32
        Flat (row-major) grid indices of the data resource elements, in
        the order of the transport block's coded bits.
    num_layers : int
        MIMO layers.
    num_bits_per_symbol : int
        Bits per QAM symbol.
    """

    def __init__(self, pusch_transmitter, noise_input: bool = False, ls_interpolation: str | None = None,
                 equalized_input: bool = False):
        rg = pusch_transmitter.resource_grid
        if rg.num_tx != 1:
            raise InputError(f"DeepRx receives one UE (with up to 4 layers); this transmitter has "
                             f"{rg.num_tx} UEs: multi-user MIMO is not supported")
        self.num_layers = int(rg.num_streams_per_tx)
        self.num_ofdm_symbols = int(rg.num_ofdm_symbols)
        self.fft_size = int(rg.fft_size)
        num_data = int(rg.num_data_symbols)
        # coded bits per transport block fill the data REs of every layer exactly
        self.num_bits_per_symbol = int(tb_encoder_of(pusch_transmitter).n) // (num_data * self.num_layers)
        # Sionna's blocks below work in the transmitter's precision ("single" or "double")
        precision = getattr(pusch_transmitter, "precision", None)
        # [1, num_tx=1, num_layers, num_ofdm_symbols, fft_size] -> [symbols, subcarriers, layers]
        mapper = ResourceGridMapper(rg, precision=precision)
        grid = mapper(tf.zeros([1, 1, self.num_layers, num_data], mapper.cdtype))
        self.pilot_grid = tf.cast(tf.transpose(grid[0, 0], [1, 2, 0]), tf.complex64)
        # pilot pattern mask [num_tx, num_layers, symbols, subcarriers]: 1 = reserved
        masks = np.asarray(rg.pilot_pattern.mask)[0] == 0
        if not (masks == masks[:1]).all():
            raise InputError("DeepRx needs the same data resource elements on every layer")
        mask = masks[0]
        self.data_mask = tf.constant(mask.astype(np.float32))
        self.data_indices = tf.constant(np.flatnonzero(mask.reshape(-1)), tf.int32)
        if self.data_indices.shape[0] != num_data:
            raise ValueError("pilot pattern and resource grid disagree on the data resource elements")
        self.noise_input = noise_input
        self.ls_interpolation = ls_interpolation
        self.equalized_input = equalized_input
        # Sionna's PUSCHReceiver's LS estimator (from the same transmitter attributes): with the
        # interpolation asked for as an input, and with its own linear one before the equalizer
        tx = pusch_transmitter
        interpolations = {ls_interpolation} - {None} | ({"lin"} if equalized_input else set())
        self._estimators = {interpolation: PUSCHLSChannelEstimator(
            rg, tx._dmrs_length, tx._dmrs_additional_position, tx._num_cdm_groups_without_data,
            interpolation_type=interpolation, precision=precision)
            for interpolation in sorted(interpolations)}
        self._equalizer = (LMMSEEqualizer(rg, StreamManagement(np.ones([1, 1], int), self.num_layers),
                                          precision=precision) if equalized_input else None)

    @property
    def num_data_re(self) -> int:
        """Data resource elements per slot (per layer)."""
        return int(self.data_indices.shape[0])

    @property
    def num_outputs(self) -> int:
        """Bits per data resource element, all layers: ``num_layers * num_bits_per_symbol``."""
        return self.num_layers * self.num_bits_per_symbol

    def features(self, y, no=None):
        """DeepRx input features of a received grid.

        Parameters
        ----------
        y : [batch, 1, num_rx_ant, num_ofdm_symbols, fft_size], tf.complex64 or tf.complex128
            Received post-FFT grid (in the transmitter's precision).
        no : None, scalar or [batch], tf.float32
            Noise (plus interference) variance per resource element; needed
            with ``noise_input`` and ``equalized_input``.

        Returns
        -------
        [batch, num_ofdm_symbols, fft_size, num_channels], tf.float32
            On the channel axis, in this order: real and imaginary parts of Y
            (num_rx_ant each), Xp (num_layers each) and the raw LS estimate
            Y * conj(Xp) (num_rx_ant * num_layers each, antenna-major, 0 off
            the layer's pilots); with ``noise_input``, ``log10(no)`` (1); with
            ``ls_interpolation``, the real and imaginary parts of the
            interpolated LS channel estimate (num_rx_ant * num_layers each,
            antenna-major); with ``equalized_input``, the real and imaginary
            parts of the LMMSE symbol estimate of each layer and ``log10`` of
            its effective noise variance (num_layers each, 0 off the data
            REs). ``num_channels`` is `DeepRxConfig.num_input_channels`.
        """
        received = y
        # [batch, 1, num_rx_ant, S, F] -> [batch, S, F, num_rx_ant]; the network's float32
        y = tf.cast(tf.transpose(y[:, 0], [0, 2, 3, 1]), tf.complex64)
        # [S, F, L] -> [batch, S, F, L]
        xp = tf.broadcast_to(self.pilot_grid[None], tf.concat([tf.shape(y)[:3], [self.num_layers]], 0))
        # [batch, S, F, num_rx_ant, 1] * [batch, S, F, 1, L] -> [batch, S, F, num_rx_ant * L]
        ls = self._antenna_major(y[..., :, None] * tf.math.conj(xp[..., None, :]))
        parts = [tf.math.real(y), tf.math.imag(y), tf.math.real(xp), tf.math.imag(xp),
                 tf.math.real(ls), tf.math.imag(ls)]
        if no is None and (self.noise_input or self.equalized_input):
            raise InputError("this DeepRx's inputs need the noise variance (noise_input or "
                             "equalized_input): pass no")
        if self.noise_input:
            # scalar or [batch] -> [batch, S, F, 1]
            log_no = tf.math.log(tf.cast(no, tf.float32)) / tf.math.log(10.0)
            parts.append(tf.broadcast_to(tf.reshape(log_no, [-1, 1, 1, 1]),
                                         tf.concat([tf.shape(y)[:3], [1]], 0)))
        # the estimators and the equalizer run in the received grid's precision
        real_dtype = received.dtype.real_dtype
        no_given = tf.ones([], real_dtype) if no is None else tf.cast(no, real_dtype)
        # h_hat [batch, 1, num_rx_ant, 1, L, S, F] and its error variance, per interpolation
        estimates = {name: estimator(received, no_given) for name, estimator in self._estimators.items()}
        if self.ls_interpolation is not None:
            # [batch, 1, num_rx_ant, 1, L, S, F] -> [batch, S, F, num_rx_ant, L]
            h_hat = tf.transpose(estimates[self.ls_interpolation][0][:, 0, :, 0], [0, 3, 4, 1, 2])
            h_hat = self._antenna_major(tf.cast(h_hat, tf.complex64))
            parts += [tf.math.real(h_hat), tf.math.imag(h_hat)]
        if self._equalizer is not None:
            # x_hat, no_eff [batch, 1, L, num_data_re]
            x_hat, no_eff = self._equalizer(received, *estimates["lin"], no_given)
            x_hat, no_eff = tf.cast(x_hat[:, 0], tf.complex64), tf.cast(no_eff[:, 0], tf.float32)
            log_no_eff = tf.math.log(tf.maximum(no_eff, 1e-6)) / tf.math.log(10.0)
            # 3 x [batch, L, num_data_re] -> [batch, 3 * L, num_data_re] -> [batch, num_data_re, 3 * L]
            data = tf.transpose(tf.concat([tf.math.real(x_hat), tf.math.imag(x_hat), log_no_eff], axis=1),
                                [0, 2, 1])
            parts.append(self.data_to_grid(data))
        return tf.concat(parts, axis=-1)

    @staticmethod
    def _antenna_major(values):
        """``[batch, S, F, num_rx_ant, L]`` -> ``[batch, S, F, num_rx_ant * L]``."""
        shape = tf.shape(values)
        return tf.reshape(values, tf.concat([shape[:3], [shape[3] * shape[4]]], 0))

    def grid_to_llr(self, logits):
        """Per-RE bit logits to the transport block's coded-bit LLRs, in Sionna's order.

        Parameters
        ----------
        logits : [batch, num_ofdm_symbols, fft_size, num_layers * num_bits_per_symbol], tf.float32
            Layer-major bits of each resource element.

        Returns
        -------
        [batch, 1, num_data_re * num_layers * num_bits_per_symbol], tf.float32
            What Sionna's `LayerDemapper` hands the transport block decoder.
        """
        bits = self.num_outputs
        # [batch, S, F, L * bits] -> [batch, S * F, L * bits] -> [batch, num_data_re, L * bits]
        flat = tf.reshape(logits, [-1, self.num_ofdm_symbols * self.fft_size, bits])
        data = tf.gather(flat, self.data_indices, axis=1)
        # [batch, num_data_re, L * bits] -> [batch, 1, num_data_re * L * bits]: symbol k of the
        # block is layer k % L of data RE k // L (Sionna's LayerMapper)
        return tf.reshape(data, [-1, 1, self.num_data_re * bits])

    def data_to_grid(self, data):
        """Values of the data REs (in the transport block's order) on the grid, 0 elsewhere.

        Parameters
        ----------
        data : [batch, num_data_re, channels], tf.float32

        Returns
        -------
        [batch, num_ofdm_symbols, fft_size, channels], tf.float32
        """
        batch, channels = tf.shape(data)[0], tf.shape(data)[2]
        # [batch, num_data_re, channels] -> [num_data_re, batch, channels] for the scatter
        grid = tf.scatter_nd(self.data_indices[:, None], tf.transpose(data, [1, 0, 2]),
                             tf.stack([self.num_ofdm_symbols * self.fft_size, batch, channels]))
        # [S * F, batch, channels] -> [batch, S, F, channels]
        return tf.reshape(tf.transpose(grid, [1, 0, 2]),
                          [batch, self.num_ofdm_symbols, self.fft_size, channels])

    def bits_to_grid(self, c):
        """Coded bits to per-RE bit labels on the grid (0 off the data REs); `grid_to_llr`'s order.

        Parameters
        ----------
        c : [batch, 1, num_data_re * num_layers * num_bits_per_symbol], tf.float32

        Returns
        -------
        [batch, num_ofdm_symbols, fft_size, num_layers * num_bits_per_symbol], tf.float32
        """
        # [batch, 1, num_data_re * L * bits] -> [batch, num_data_re, L * bits]
        return self.data_to_grid(tf.reshape(c, [tf.shape(c)[0], self.num_data_re, self.num_outputs]))
