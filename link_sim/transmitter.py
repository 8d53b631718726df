"""The PUSCH transmitter of a `LinkConfig`, with access to the coded bits."""

from __future__ import annotations

import copy

import tensorflow as tf
from sionna.phy.fec.crc import CRCEncoder
from sionna.phy.nr import PUSCHConfig, PUSCHTransmitter, TBDecoder, TBEncoder

from link_sim.config import LinkConfig


def make_pusch_config(config: LinkConfig, cell_id: int = 1) -> PUSCHConfig:
    """Sionna's `PUSCHConfig` for a scenario.

    Parameters
    ----------
    config : LinkConfig
        The scenario.
    cell_id : int
        Physical cell ID; it seeds the DMRS and data scrambling, so a
        co-channel interferer of a neighbour cell gets a different one.
    """
    pc = PUSCHConfig()
    pc.carrier.n_cell_id = cell_id
    pc.carrier.n_size_grid = config.num_prb
    pc.carrier.subcarrier_spacing = config.subcarrier_spacing_khz
    pc.num_antenna_ports = config.num_tx_ant
    pc.num_layers = config.num_layers
    pc.precoding = "codebook" if config.num_layers < config.num_tx_ant else "non-codebook"
    pc.dmrs.dmrs_port_set = list(range(config.num_layers))
    pc.dmrs.additional_position = config.num_dmrs_symbols - 1
    pc.tb.mcs_table = 2
    pc.tb.mcs_index = config.mcs_index
    return pc


def tb_encoder_of(pusch_transmitter: PUSCHTransmitter) -> TBEncoder:
    """The transport-block encoder of any Sionna `PUSCHTransmitter`.

    Sionna has no public accessor for it; its own `PUSCHReceiver` reads the
    same attribute to build its `TBDecoder`, and this is the project's one
    place that does so.
    """
    return pusch_transmitter._tb_encoder  # pylint: disable=protected-access


def transport_block_decoder(pusch_transmitter: PUSCHTransmitter, precision=None) -> TBDecoder:
    """A `TBDecoder` for the transmitter's transport blocks that never changes the transmitter.

    Sionna's `TBDecoder` checks the CRC by re-encoding with the encoder's
    own `CRCEncoder`, on words longer than the transmitter's, and a
    `CRCEncoder` called with a new length rebuilds its generator matrix in
    whatever graph is being traced. Shared with the transmitter (as
    `PUSCHReceiver` shares it), the matrix flips between the two lengths in
    every trace, and a trace that stops between transmitter and decoder (a
    refused receiver, an error) leaves the transmitter holding a constant of
    a dead graph: every later call fails with "... is out of scope". This
    decoder has CRC encoders of its own (built once, outside any graph, by
    Sionna's `Block`), and building it re-encodes one block eagerly so that
    the transmitter's own are built outside any graph too, whatever an
    earlier receiver (Sionna's own, say) left there.

    Parameters
    ----------
    pusch_transmitter : sionna.phy.nr.PUSCHTransmitter
    precision : None, "single" or "double"

    Returns
    -------
    sionna.phy.nr.TBDecoder
    """
    encoder = tb_encoder_of(pusch_transmitter)
    with tf.init_scope():  # eager even when a receiver is built inside a traced function
        encoder(tf.zeros([1, encoder.num_tx, encoder.k], encoder.rdtype))  # k: its input bits
    own = copy.copy(encoder)  # same code, interleaver and scrambler; only the CRC blocks are its own
    own._tb_crc_encoder = CRCEncoder(encoder.tb_crc_encoder.crc_degree, precision=encoder.precision)
    if encoder.cb_crc_encoder is not None:
        own._cb_crc_encoder = CRCEncoder(encoder.cb_crc_encoder.crc_degree, precision=encoder.precision)
    return TBDecoder(own, precision=precision)


class LinkTransmitter(PUSCHTransmitter):
    r"""A `PUSCHTransmitter` that also hands out the coded bits it sends.

    It is a drop-in `PUSCHTransmitter` (``tx(batch_size) -> (x, b)``) built
    from a `LinkConfig`, and splits the chain in two public steps so that a
    link can score hard decisions on the coded bits (uncoded BER) and label
    training data:

    ``encode(b) -> c`` (TB CRC, LDPC, rate matching, scrambling) and
    ``modulate(c) -> x`` (QAM mapping, layer mapping, resource grid mapping,
    precoding).

    Parameters
    ----------
    config : LinkConfig
        The scenario.
    cell_id : int
        Physical cell ID (DMRS and scrambling seed).

    Input
    -----
    batch_size : int
        Number of slots.

    Output
    ------
    x : [batch_size, 1, num_tx_ant, num_ofdm_symbols, fft_size], tf.complex64
        Frequency-domain transmit grid.
    b : [batch_size, 1, tb_size], tf.float32
        Information bits.
    """

    def __init__(self, config: LinkConfig, cell_id: int = 1, precision=None, **kwargs):
        super().__init__(make_pusch_config(config, cell_id), return_bits=True,
                         output_domain="freq", precision=precision, **kwargs)
        self.link_config = config

    @property
    def tb_size(self) -> int:
        """Information bits per transport block."""
        return self._tb_size

    @property
    def num_coded_bits(self) -> int:
        """Coded bits per transport block (all data resource elements)."""
        return self._num_coded_bits

    @property
    def num_bits_per_symbol(self) -> int:
        """Bits per QAM symbol."""
        return self._num_bits_per_symbol

    def random_bits(self, batch_size):
        """Information bits ``[batch_size, 1, tb_size]``, tf.float32."""
        return self._binary_source([batch_size, self._num_tx, self._tb_size])

    def encode(self, b):
        """Information bits ``[..., tb_size]`` to coded bits ``[..., num_coded_bits]``."""
        return self._tb_encoder(b)

    def modulate(self, c):
        """Coded bits ``[batch, 1, num_coded_bits]`` to the transmit grid ``x``."""
        x = self._resource_grid_mapper(self._layer_mapper(self._mapper(c)))
        if self._precoding == "codebook":
            x = self._precoder(x)
        return x

    def call(self, inputs):
        b = self.random_bits(inputs)
        return self.modulate(self.encode(b)), b
