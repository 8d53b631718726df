"""Whether a DeepRx model can receive a link's slots: the one check, with one set of messages.

A model (Keras, a checkpoint's architecture or an exported ``.tflite``)
fits a link when it was built for the link's layer count, it outputs one
logit per bit of the link's modulation and layer, and its input width is
the one `DeepRxConfig.num_input_channels` gives for the link's receive
antennas and layers and the model's inputs; an exported model also has a
fixed grid. The
checkpoint loader, `DeepRxReceiver`, `TFLiteReceiver` and the exporter
all ask `check_model_fits`. This module needs neither TensorFlow nor
Sionna.
"""

from __future__ import annotations

import dataclasses

from deeprx_tf.config import DeepRxConfig
from link_sim.errors import InputError


@dataclasses.dataclass(frozen=True)
class LinkShape:
    """What a link hands its receiver.

    Parameters
    ----------
    num_bits_per_symbol : int
        Bits per QAM symbol of the link's MCS.
    num_layers : int
        MIMO layers of the one UE.
    num_rx_ant : int or None
        Receive antennas; `None` where unknown (a Sionna transmitter alone
        does not know the channel's antennas: checked at the first call).
    grid : (int, int) or None
        ``(num_ofdm_symbols, fft_size)`` of the resource grid.
    """

    num_bits_per_symbol: int
    num_layers: int = 1
    num_rx_ant: int | None = None
    grid: tuple[int, int] | None = None

    @classmethod
    def of_link_config(cls, link_config) -> "LinkShape":
        """The shape of a `link_sim.LinkConfig` scenario."""
        return cls(link_config.num_bits_per_symbol, link_config.num_layers, link_config.num_rx_ant,
                   (link_config.num_ofdm_symbols, link_config.num_subcarriers))


def check_model_fits(model: str, link: LinkShape, *, num_outputs: int, num_layers: int | None = None,
                     inputs: dict | None = None, num_rx_ant: int | None = None,
                     num_input_channels: int | None = None, grid: tuple[int, int] | None = None) -> None:
    """Raise `InputError` (one line) unless the model can receive the link's slots.

    Parameters
    ----------
    model : str
        How the messages name the model ("the checkpoint x05", ...).
    link : LinkShape
    num_outputs : int
        Logits per resource element the model outputs (layers x bits per symbol).
    num_layers : int, optional
        Layers the model was built for (a checkpoint's architecture).
    inputs : dict, optional
        The model's optional inputs (`DeepRxConfig.feature_options`); the
        published DeepRx's if `None`.
    num_rx_ant : int, optional
        Receive antennas the model was built for (a checkpoint's architecture).
    num_input_channels : int, optional
        Input width of a built model.
    grid : (int, int), optional
        The fixed ``(symbols, subcarriers)`` of an exported model.
    """
    layers, bits = link.num_layers, link.num_bits_per_symbol
    if link.num_rx_ant is not None and layers > link.num_rx_ant:
        raise InputError(f"the link sends {layers} layers to {link.num_rx_ant} receive antenna(s): "
                         "DeepRx needs at least as many receive antennas as layers")
    if num_layers is not None and num_layers != layers:
        raise InputError(f"{model} receives {num_layers} layer(s), the link sends {layers}: use a "
                         "model trained for this layer count")
    if num_outputs != layers * bits:
        raise InputError(f"{model} outputs {num_outputs} logits per resource element, the link needs "
                         f"{layers * bits} ({layers} layer(s) x the {bits} bits per symbol of its MCS): "
                         "use a model trained for this MCS and layer count")
    if link.num_rx_ant is not None:
        if num_rx_ant is not None and num_rx_ant != link.num_rx_ant:
            raise InputError(f"{model} is for {num_rx_ant} receive antennas, the link has "
                             f"{link.num_rx_ant}: use a model trained for this antenna count")
        expected = DeepRxConfig(num_rx_ant=link.num_rx_ant, num_layers=layers,
                                **(inputs or {})).num_input_channels
        if num_input_channels is not None and num_input_channels != expected:
            raise InputError(f"{model} takes {num_input_channels} input channels, the link's "
                             f"{link.num_rx_ant} receive antennas and {layers} layer(s) give {expected} "
                             f"with its inputs ({describe_inputs(inputs)}): use a model trained for this "
                             "antenna count, and give a model with optional inputs with its configuration")
    if grid is not None and link.grid is not None and tuple(grid) != tuple(link.grid):
        raise InputError(f"{model} was exported for a {grid[0]} x {grid[1]} grid, the link has "
                         f"{link.grid[0]} x {link.grid[1]} (symbols x subcarriers): export it for "
                         "this scenario")


def describe_inputs(inputs: dict | None) -> str:
    """A model's inputs in words, from `DeepRxConfig.feature_options` (`None`: the published ones)."""
    chosen = [name for name, value in (inputs or {}).items() if value]
    return "the published DeepRx's" if not chosen else "the published ones plus " + ", ".join(chosen)
