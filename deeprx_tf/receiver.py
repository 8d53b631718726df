"""`DeepRxReceiver`: a DeepRx model as a drop-in Sionna PUSCH receiver."""

from __future__ import annotations

import link_sim.tfenv  # noqa: F401  (before TensorFlow)

import tensorflow as tf
from sionna.phy import Block
from sionna.phy.nr import TBDecoder

from deeprx_tf.features import GridLayout
from link_sim.transmitter import tb_encoder_of


class DeepRxReceiver(Block):
    r"""DeepRx in place of `PUSCHReceiver`: channel estimation, equalisation
    and demapping by one network, then Sionna's transport block decoder.

    Same call contract as `PUSCHReceiver` (``rx(y, no) -> b_hat``, plus the
    CRC status on request), so `LinkSimulator`, ``sim_ber`` and a user's own
    Sionna code use it unchanged; `compute_llr` gives the per-bit LLRs.

    Parameters
    ----------
    pusch_transmitter : sionna.phy.nr.PUSCHTransmitter
        The link's transmitter (one UE, one layer).
    model : tf_keras.Model
        A DeepRx model (`build_deeprx`) whose input has ``4 * num_rx_ant + 2``
        channels and whose output has one logit per bit of the link's
        modulation.
    return_tb_crc_status : bool
        Also return the transport block CRC status.

    Input
    -----
    y : [batch_size, 1, num_rx_ant, num_ofdm_symbols, fft_size], tf.complex64
        Received post-FFT grid.
    no : scalar or [batch_size], tf.float32
        Noise variance; DeepRx, like the published model, does not use it.

    Output
    ------
    b_hat : [batch_size, 1, tb_size], tf.float32
        Decoded information bits.
    tb_crc_status : [batch_size, 1], tf.bool
        Only with ``return_tb_crc_status=True``.
    """

    def __init__(self, pusch_transmitter, model, return_tb_crc_status: bool = False,
                 precision=None, **kwargs):
        super().__init__(precision=precision, **kwargs)
        self._layout = GridLayout(pusch_transmitter)
        num_bits = model.output_shape[-1]
        if num_bits != self._layout.num_bits_per_symbol:
            raise ValueError(
                f"the DeepRx model outputs {num_bits} bits per symbol but the link's modulation "
                f"carries {self._layout.num_bits_per_symbol}; use a model trained for this MCS")
        self._model = model
        self._num_input_channels = model.input_shape[-1]
        self._return_tb_crc_status = return_tb_crc_status
        self._tb_decoder = TBDecoder(tb_encoder_of(pusch_transmitter), precision=precision)

    @property
    def model(self):
        """The DeepRx Keras model."""
        return self._model

    @property
    def layout(self) -> GridLayout:
        """Pilot grid and data resource elements of the link."""
        return self._layout

    def compute_llr(self, y, no=None, h=None):
        """Coded-bit LLRs ``[batch_size, 1, num_coded_bits]``, tf.float32 (positive: bit 1)."""
        num_rx_ant = y.shape[2]
        if num_rx_ant is not None and 4 * num_rx_ant + 2 != self._num_input_channels:
            raise ValueError(
                f"the DeepRx model expects {(self._num_input_channels - 2) // 4} receive antennas "
                f"but the link has {num_rx_ant}; use a model trained for this antenna count")
        logits = self._model(self._layout.features(y), training=False)
        return self._layout.grid_to_llr(tf.cast(logits, tf.float32))

    def call(self, y, no=None, h=None):
        b_hat, tb_crc_status = self._tb_decoder(self.compute_llr(y, no))
        return (b_hat, tb_crc_status) if self._return_tb_crc_status else b_hat
