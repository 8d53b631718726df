"""Baseline PUSCH receivers, and the contract a plug-in receiver fills.

A receiver for `LinkSimulator` has `PUSCHReceiver`'s call contract,

``rx(y, no[, h]) -> b_hat`` (and ``tb_crc_status`` if asked for),

and, to report uncoded BER (the paper's metric), a method

``rx.compute_llr(y, no[, h]) -> llr`` with the LLRs of the transport
block's coded bits, ``[batch_size, 1, num_coded_bits]``, tf.float32, in
Sionna's sign convention ``ln(P(b=1) / P(b=0))``.

A receiver that needs the true channel (perfect CSI) says so with a
``requires_channel = True`` attribute.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import tensorflow as tf
from sionna.phy.nr import PUSCHReceiver

from link_sim.errors import InputError
from link_sim.transmitter import transport_block_decoder

#: Names of the receivers this module builds (see `make_baseline_receiver`).
BASELINE_RECEIVERS = ("lmmse", "perfect-csi")


@runtime_checkable
class CodedBitReceiver(Protocol):
    """What `LinkSimulator` needs of a receiver."""

    def __call__(self, y, no, h=None): ...

    def compute_llr(self, y, no, h=None): ...


class LMMSEReceiver(PUSCHReceiver):
    r"""Sionna's `PUSCHReceiver` with its defaults, exposing coded-bit LLRs.

    Least-squares channel estimation at the DMRS with linear interpolation
    (or the true channel with ``perfect_csi=True``), LMMSE equalisation,
    max-log demapping, layer demapping and transport-block decoding, exactly
    as `PUSCHReceiver` does; `compute_llr` stops before the decoder.

    Parameters
    ----------
    pusch_transmitter : sionna.phy.nr.PUSCHTransmitter
        The transmitter of the link.
    perfect_csi : bool
        Use the true channel ``h`` instead of the LS estimate.
    return_tb_crc_status : bool
        Also return the transport block CRC status.

    Input
    -----
    y : [batch_size, 1, num_rx_ant, num_ofdm_symbols, fft_size], tf.complex64
        Received post-FFT resource grid.
    no : [batch_size] or scalar, tf.float32
        Noise (plus interference) variance per resource element.
    h : [batch_size, 1, num_rx_ant, 1, num_tx_ant, num_ofdm_symbols, fft_size], tf.complex64
        True channel; only with ``perfect_csi=True``.

    Output
    ------
    b_hat : [batch_size, 1, tb_size], tf.float32
        Decoded information bits.
    tb_crc_status : [batch_size, 1], tf.bool
        Only with ``return_tb_crc_status=True``.
    """

    def __init__(self, pusch_transmitter, perfect_csi: bool = False,
                 return_tb_crc_status: bool = False, precision=None, **kwargs):
        super().__init__(pusch_transmitter,
                         channel_estimator="perfect" if perfect_csi else None,
                         return_tb_crc_status=return_tb_crc_status,
                         # PUSCHReceiver's own decoder shares the transmitter's CRC encoder
                         tb_decoder=transport_block_decoder(pusch_transmitter, precision=precision),
                         precision=precision, **kwargs)
        self.requires_channel = perfect_csi

    def compute_llr(self, y, no, h=None):
        """Coded-bit LLRs ``[batch_size, 1, num_coded_bits]``, tf.float32."""
        y, no, h = tf.nest.map_structure(self._convert_to_tensor, [y, no, h])
        if self._perfect_csi:
            if h is None:
                raise ValueError("a perfect-CSI receiver needs the channel h")
            if self._w is not None:
                # Effective channel of the precoded layers, as in PUSCHReceiver:
                # [batch, rx, tx, sym, sc, rx_ant, tx_ant] @ w -> ... num_layers
                h = tf.transpose(h, perm=[0, 1, 3, 5, 6, 2, 4])
                h = tf.matmul(h, self._w)
                h = tf.transpose(h, perm=[0, 1, 5, 2, 6, 3, 4])
            h_hat, err_var = h, tf.zeros([], h.dtype.real_dtype)
        else:
            h_hat, err_var = self._channel_estimator(y, no)
        llr = self._mimo_detector(y, h_hat, err_var, no)
        return self._layer_demapper(llr)

    def call(self, y, no, h=None):
        b_hat, tb_crc_status = self._tb_decoder(self.compute_llr(y, no, h))
        return (b_hat, tb_crc_status) if self._return_tb_crc_status else b_hat


def make_baseline_receiver(name: str, pusch_transmitter, **kwargs) -> LMMSEReceiver:
    """A baseline receiver by name: ``"lmmse"`` (LS + LMMSE) or ``"perfect-csi"``."""
    if name not in BASELINE_RECEIVERS:
        raise InputError(f"unknown receiver {name!r}; choose one of {', '.join(BASELINE_RECEIVERS)}")
    return LMMSEReceiver(pusch_transmitter, perfect_csi=(name == "perfect-csi"), **kwargs)


__all__ = ["BASELINE_RECEIVERS", "CodedBitReceiver", "LMMSEReceiver", "make_baseline_receiver"]
