"""`DeepRxReceiver`: a DeepRx model as a drop-in Sionna PUSCH receiver."""

from __future__ import annotations

import dataclasses
import functools
import warnings

import tensorflow as tf
from sionna.phy import Block

from deeprx_tf.checkpoint import Checkpoint
from deeprx_tf.link_fit import LinkShape, check_model_fits
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.features import GridLayout
from deeprx_tf.model import config_of
from link_sim.errors import InputError
from link_sim.transmitter import transport_block_decoder


def _num_dmrs_symbols(pusch_transmitter) -> int:
    """DMRS symbols per slot of the transmitter's PUSCH configuration (what Sionna's receiver reads)."""
    dmrs = pusch_transmitter._pusch_config.dmrs
    return int(dmrs.length * (dmrs.additional_position + 1))


def _warn_if_unfamiliar(checkpoint: Checkpoint, pusch_transmitter) -> None:
    """Warn once if the link's DMRS count, MCS or channel model (where the transmitter
    knows it) is one the checkpoint never trained on."""
    domain = checkpoint.training_domain
    if domain is None:
        return
    link = getattr(pusch_transmitter, "link_config", None)  # a link_sim.LinkTransmitter knows it
    notes = domain.unfamiliar(channel_model=link.channel_model if link is not None else None,
                              num_dmrs_symbols=_num_dmrs_symbols(pusch_transmitter),
                              mcs_index=pusch_transmitter._pusch_config.tb.mcs_index)
    if notes:
        warnings.warn(f"this DeepRx never trained on {'; '.join(notes)}: expect a higher BER "
                      "than its model card reports", UserWarning, stacklevel=3)


class DeepRxReceiver(Block):
    r"""DeepRx in place of `PUSCHReceiver`: channel estimation, equalisation
    and demapping by one network, then Sionna's transport block decoder.

    Same call contract as `PUSCHReceiver` (``rx(y, no) -> b_hat``, plus the
    CRC status on request), so `LinkSimulator`, ``sim_ber`` and a user's own
    Sionna code use it unchanged; `compute_llr` gives the per-bit LLRs.

    Parameters
    ----------
    pusch_transmitter : sionna.phy.nr.PUSCHTransmitter
        The link's transmitter: one UE with one to four layers (several UEs,
        multi-user MIMO, are refused).
    model : tf_keras.Model or Checkpoint
        A DeepRx model whose output has one logit per bit of the link's
        modulation and layer: built by `build_deeprx` or loaded by
        `deeprx_tf.load_checkpoint` (``.model``, which normalizes with the
        moving statistics saved in its weights), it carries its
        ``config``; or the loaded checkpoint itself (preferred), which uses
        its batch-norm statistics for the link's DMRS count where it has
        them (`Checkpoint.model_for`) and warns (`UserWarning`) when the link
        has a DMRS count, MCS or channel model it never trained on.
    return_tb_crc_status : bool
        Also return the transport block CRC status.
    config : DeepRxConfig, optional
        The model's architecture, for its optional inputs (noise variance,
        interpolated LS estimate, LMMSE-equalized symbols); by default the
        one the model carries (`deeprx_tf.model.config_of`), and for a model
        built otherwise the published DeepRx's ``4 * num_rx_ant + 2`` input
        channels.
    input_domain : "freq"
        As `PUSCHReceiver`'s; DeepRx receives the post-FFT grid, so "time"
        (or a transmitter with ``output_domain="time"``) is refused.
    precision : None, "single" or "double"
        Sionna's precision of the block: the decoder and the LLRs follow it;
        the features and the network run in float32.

    A model that cannot receive the link's slots (bits per symbol, layers,
    input width for the receive antennas, an exported model's grid) is
    refused (`link_sim.errors.InputError`) at construction, or at the first
    call where only the received grid tells the antenna count.

    Input
    -----
    y : [batch_size, 1, num_rx_ant, num_ofdm_symbols, fft_size], tf.complex64
        Received post-FFT grid.
    no : scalar or [batch_size], tf.float32
        Noise (plus interference) variance; used only by a model with
        `DeepRxConfig.noise_input` or ``equalized_input`` (the published
        DeepRx does not take it).

    Output
    ------
    b_hat : [batch_size, 1, tb_size], tf.float32
        Decoded information bits (one transport block over all layers, as
        Sionna's `PUSCHReceiver`).
    tb_crc_status : [batch_size, 1], tf.bool
        Only with ``return_tb_crc_status=True``.

    Example
    -------
    >>> from deeprx_tf import load_checkpoint
    >>> from link_sim import LinkConfig, LinkSimulator
    >>> ckpt = load_checkpoint("default")  # the shipped model
    >>> sim = LinkSimulator(LinkConfig(num_prb=1), receiver=lambda tx: DeepRxReceiver(tx, ckpt))
    >>> b, b_hat = sim(4, 30.0)  # Sionna's Monte Carlo contract: (batch_size, SINR [dB])
    >>> b_hat.shape == b.shape
    True
    """

    def __init__(self, pusch_transmitter, model, return_tb_crc_status: bool = False,
                 config: DeepRxConfig | None = None, input_domain: str = "freq", precision=None,
                 **kwargs):
        super().__init__(precision=precision, **kwargs)
        if input_domain != "freq" or getattr(pusch_transmitter, "_output_domain", "freq") != "freq":
            raise InputError("DeepRx receives the post-FFT resource grid: use output_domain='freq' "
                             "(or Sionna's OFDMDemodulator on the time-domain samples first)")
        if isinstance(model, Checkpoint):
            _warn_if_unfamiliar(model, pusch_transmitter)
            model, config = model.model_for(_num_dmrs_symbols(pusch_transmitter)), model.config
        config = config or config_of(model)
        self._inputs = (config or DeepRxConfig()).feature_options()
        # one UE (a multi-user transmitter is refused here in one line), its layers and DMRS ports
        self._layout = GridLayout(pusch_transmitter, **self._inputs)
        link_config = getattr(pusch_transmitter, "link_config", None)  # a link_sim.LinkTransmitter's
        self._link = LinkShape(
            num_bits_per_symbol=int(pusch_transmitter._num_bits_per_symbol),  # as Sionna's receiver
            num_layers=self._layout.num_layers,
            num_rx_ant=link_config.num_rx_ant if link_config is not None else None,
            grid=(int(pusch_transmitter.resource_grid.num_ofdm_symbols),
                  int(pusch_transmitter.resource_grid.fft_size)))
        self._check = self._fit_check(model, config)
        self._check(self._link)  # the receive antennas too where the transmitter knows them
        self._model = model
        self._return_tb_crc_status = return_tb_crc_status
        self._tb_decoder = transport_block_decoder(pusch_transmitter, precision=precision)

    def _fit_check(self, model, config):
        """``check(link: LinkShape)``: raises `InputError` unless ``model`` receives the link."""
        fixed_grid = tuple(model.input_shape[1:3])
        return functools.partial(
            check_model_fits, "the DeepRx model", num_outputs=int(model.output_shape[-1]),
            num_layers=config.num_layers if config is not None else None,
            inputs=self._inputs, num_input_channels=int(model.input_shape[-1]),
            grid=fixed_grid if None not in fixed_grid else None)

    @property
    def model(self):
        """The DeepRx Keras model."""
        return self._model

    @property
    def layout(self) -> GridLayout:
        """Pilot grid and data resource elements of the link."""
        return self._layout

    def compute_llr(self, y, no=None, h=None):
        """Coded-bit LLRs ``[batch_size, 1, num_coded_bits]`` in the block's precision
        (positive: bit 1), in the order of Sionna's `LayerDemapper` output; ``h`` is ignored."""
        num_rx_ant = y.shape[2]
        if num_rx_ant is not None and num_rx_ant != self._link.num_rx_ant:
            # a plain Sionna transmitter does not know the antennas: checked on the received grid
            self._check(dataclasses.replace(self._link, num_rx_ant=int(num_rx_ant)))
        logits = self._model(self._layout.features(y, no), training=False)
        return tf.cast(self._layout.grid_to_llr(tf.cast(logits, tf.float32)), self.rdtype)

    def call(self, y, no=None, h=None):
        b_hat, tb_crc_status = self._tb_decoder(self.compute_llr(y, no))
        return (b_hat, tb_crc_status) if self._return_tb_crc_status else b_hat
