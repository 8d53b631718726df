"""`LinkSimulator`: transmitter -> channel (+ interference + noise) -> receiver -> decoder."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Union

import tensorflow as tf
from sionna.phy import Block, config as sionna_config
from sionna.phy.channel import AWGN, ApplyOFDMChannel

from link_sim.channels import ChannelSampler
from link_sim.config import LinkConfig
from link_sim.receivers import make_baseline_receiver
from link_sim.transmitter import LinkTransmitter, transport_block_decoder

#: Largest share of the impairment power an interferer may take; the rest
#: is thermal noise (a drawn SIR below the SINR point is capped to this).
MAX_INTERFERENCE_SHARE = 0.99

#: Physical cell IDs of the served UE and of the co-channel interferer.
SERVING_CELL_ID, INTERFERER_CELL_ID = 1, 2

ReceiverSpec = Union[str, Callable[[LinkTransmitter], object], object]


class LinkBatch(NamedTuple):
    """One batch of transmitted and received slots, cut before the receiver.

    Attributes
    ----------
    b : [batch_size, 1, tb_size], tf.float32
        Information bits.
    c : [batch_size, 1, num_coded_bits], tf.float32
        Coded (scrambled) bits, in the order the receiver's LLRs come in.
    x : [batch_size, 1, num_tx_ant, num_ofdm_symbols, fft_size], tf.complex64
        Transmit grid.
    y : [batch_size, 1, num_rx_ant, num_ofdm_symbols, fft_size], tf.complex64
        Received post-FFT grid.
    h : [batch_size, 1, num_rx_ant, 1, num_tx_ant, num_ofdm_symbols, fft_size], tf.complex64
        Channel of the served UE.
    no : [batch_size], tf.float32
        Impairment (noise plus interference) power per resource element,
        ``10**(-sinr_db/10)``; what the receivers are told.
    """

    b: tf.Tensor
    c: tf.Tensor
    x: tf.Tensor
    y: tf.Tensor
    h: tf.Tensor
    no: tf.Tensor


class LinkSimulator(Block):
    r"""An end-to-end Sionna PUSCH link for one scenario and one receiver.

    The served UE's `LinkTransmitter` sends through the scenario's channel;
    a co-channel interferer (another UE of a neighbour cell, with its own
    data, DMRS scrambling and channel) is added when ``config.sir_db`` is
    set; then white Gaussian noise. The SINR is per resource element, per
    receive antenna and per layer: with signal power 1, the impairment power
    is ``P = 10**(-sinr_db/10)``, of which the interferer takes
    ``min(10**(-sir_db/10), 0.99 P)`` (SIR drawn per slot from
    ``config.sir_db``) and thermal noise the rest. Receivers are told ``P``
    (interference treated as noise).

    It is a Monte Carlo function for Sionna's ``sim_ber``:
    ``sim(batch_size, ebno_db) -> (b, b_hat)``, where ``ebno_db`` (the name
    ``sim_ber`` passes) is the **SINR in dB**. `run` also returns the coded
    bits and the receiver's LLRs for uncoded BER, and `count_errors` gives
    the error counts of one batch.

    Parameters
    ----------
    config : LinkConfig
        The scenario.
    receiver : str, callable or receiver
        ``"lmmse"`` (Sionna's LS + LMMSE `PUSCHReceiver` defaults),
        ``"perfect-csi"`` (true channel + LMMSE), a callable that builds a
        receiver from the simulator's `LinkTransmitter` (for example
        ``lambda tx: DeepRxReceiver(tx, model)``), or a receiver object
        with `PUSCHReceiver`'s call contract (see `link_sim.receivers`).

    Input
    -----
    batch_size : int
        Slots per batch.
    ebno_db : float or [batch_size], tf.float32
        SINR [dB].

    Output
    ------
    b : [batch_size, 1, tb_size], tf.float32
        Transmitted information bits.
    b_hat : [batch_size, 1, tb_size], tf.float32
        Decoded information bits.

    Example
    -------
    >>> from link_sim import LinkConfig
    >>> sim = LinkSimulator(LinkConfig(num_prb=1), "lmmse")
    >>> counts = sim.count_errors(4, 25.0)
    >>> int(counts["blocks"]), int(counts["uncoded_bits"]) == 4 * sim.transmitter.num_coded_bits
    (4, True)

    In Sionna's ``sim_ber``:
    ``sionna.phy.utils.sim_ber(sim, [20.0, 25.0], batch_size=16, max_mc_iter=4)``.
    """

    def __init__(self, config: LinkConfig, receiver: ReceiverSpec = "lmmse", precision=None, **kwargs):
        super().__init__(precision=precision, **kwargs)
        self._config = config
        self._transmitter = LinkTransmitter(config, SERVING_CELL_ID, precision=precision)
        self._channel = ChannelSampler(config, self._transmitter.resource_grid, precision=precision)
        self._apply_channel = ApplyOFDMChannel(precision=precision)
        self._awgn = AWGN(precision=precision)
        self._interferer = None
        if config.sir_db is not None:
            self._interferer = LinkTransmitter(config, INTERFERER_CELL_ID, precision=precision)
        if isinstance(receiver, str):
            receiver = make_baseline_receiver(receiver, self._transmitter, precision=precision)
        elif not (isinstance(receiver, Block) or hasattr(receiver, "compute_llr")):
            receiver = receiver(self._transmitter)  # a factory
        self._receiver = receiver
        self._requires_channel = bool(getattr(receiver, "requires_channel", False))
        self._has_llr = hasattr(receiver, "compute_llr")
        self._decoder = transport_block_decoder(self._transmitter, precision=precision)

    @property
    def config(self) -> LinkConfig:
        """The scenario."""
        return self._config

    @property
    def transmitter(self) -> LinkTransmitter:
        """The served UE's transmitter (pass it to a receiver's constructor)."""
        return self._transmitter

    @property
    def receiver(self):
        """The receiver under test."""
        return self._receiver

    def transmit(self, batch_size, sinr_db) -> LinkBatch:
        """Send one batch through the channel, interference and noise.

        Parameters
        ----------
        batch_size : int
            Slots.
        sinr_db : float or [batch_size], tf.float32
            SINR [dB], one value or one per slot.

        Returns
        -------
        LinkBatch
        """
        tx = self._transmitter
        b = tx.random_bits(batch_size)
        c = tx.encode(b)
        x = tx.modulate(c)
        h = self._channel(batch_size)
        # [batch_size]: impairment power per slot
        sinr_db = tf.broadcast_to(tf.cast(sinr_db, self.rdtype), [batch_size])
        impairment = tf.pow(tf.constant(10.0, self.rdtype), -sinr_db / 10.0)
        noise = impairment
        y = self._apply_channel(x, h)
        if self._interferer is not None:
            x_int, _ = self._interferer(batch_size)
            h_int = self._channel(batch_size)
            sir_lo, sir_hi = self._config.sir_db
            sir_db = sionna_config.tf_rng.uniform([batch_size], sir_lo, sir_hi, self.rdtype)
            interference = tf.minimum(tf.pow(tf.constant(10.0, self.rdtype), -sir_db / 10.0),
                                      MAX_INTERFERENCE_SHARE * impairment)
            noise = impairment - interference
            # [batch_size] -> [batch_size, 1, 1, 1, 1] to scale y_int
            scale = tf.reshape(tf.cast(tf.sqrt(interference), self.cdtype), [-1, 1, 1, 1, 1])
            y = y + scale * self._apply_channel(x_int, h_int)
        # [batch_size] -> [batch_size, 1, 1, 1, 1], broadcast over the grid
        y = self._awgn(y, tf.reshape(noise, [-1, 1, 1, 1, 1]))
        return LinkBatch(b=b, c=c, x=x, y=y, h=h, no=impairment)

    def receive(self, batch: LinkBatch):
        """Run the receiver on a batch.

        Returns
        -------
        b_hat : [batch_size, 1, tb_size], tf.float32
            Decoded information bits.
        llr : [batch_size, 1, num_coded_bits], tf.float32 or None
            Coded-bit LLRs, `None` if the receiver does not expose them.
        """
        args = (batch.y, batch.no) + ((batch.h,) if self._requires_channel else ())
        if self._has_llr:
            llr = self._receiver.compute_llr(*args)
            b_hat, _ = self._decoder(llr)
            return b_hat, llr
        return self._receiver(*args), None

    def run(self, batch_size, sinr_db):
        """Simulate one batch end to end.

        Returns
        -------
        batch : LinkBatch
            What was sent and received.
        b_hat : [batch_size, 1, tb_size], tf.float32
            Decoded information bits.
        llr : [batch_size, 1, num_coded_bits], tf.float32 or None
            Coded-bit LLRs (`None` if the receiver has no `compute_llr`).
        """
        batch = self.transmit(batch_size, sinr_db)
        b_hat, llr = self.receive(batch)
        return batch, b_hat, llr

    def count_errors(self, batch_size, sinr_db) -> dict[str, tf.Tensor]:
        """Error counts of one simulated batch, as int64 scalars.

        Keys: ``uncoded_bit_errors`` and ``uncoded_bits`` (hard decisions
        ``llr > 0`` on the coded bits; both 0 if the receiver has no LLRs),
        ``bit_errors`` and ``bits`` (information bits after decoding),
        ``block_errors`` and ``blocks`` (transport blocks).
        """
        batch, b_hat, llr = self.run(batch_size, sinr_db)

        def count(wrong):
            return tf.reduce_sum(tf.cast(wrong, tf.int64))

        def size(t):
            return tf.cast(tf.size(t), tf.int64)

        tb_wrong = tf.not_equal(batch.b, b_hat)
        if llr is not None:
            c_hat = tf.cast(llr > 0, batch.c.dtype)
            uncoded = count(tf.not_equal(batch.c, c_hat)), size(batch.c)
        else:
            uncoded = tf.constant(0, tf.int64), tf.constant(0, tf.int64)
        return {
            "uncoded_bit_errors": uncoded[0],
            "uncoded_bits": uncoded[1],
            "bit_errors": count(tb_wrong),
            "bits": size(batch.b),
            "block_errors": count(tf.reduce_any(tb_wrong, axis=-1)),
            "blocks": size(batch.b[..., 0]),
        }

    def call(self, batch_size, ebno_db):
        batch, b_hat, _ = self.run(batch_size, ebno_db)
        return batch.b, b_hat
