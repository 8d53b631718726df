"""`DeepRxConfig`: the architecture of a DeepRx model, frozen and JSON-serialisable."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from link_sim.errors import InputError
from link_sim.results import dataclass_from_dict, read_json, write_json

#: Largest width multiplier of a scaled architecture (16x the paper's widths).
MAX_WIDTH_MULTIPLIER = 16.0


def _is_int(value) -> bool:
    """An integer, not a bool (JSON's true) nor a float (2.0)."""
    return isinstance(value, int) and not isinstance(value, bool)


#: Residual blocks of the paper's DeepRx (Honkala et al., "DeepRx: Fully Convolutional Deep
#: Learning Receiver", IEEE TWC 20(6), 2021): output filters and (time, frequency) dilation.
PAPER_BLOCK_FILTERS = (64, 64, 128, 128, 256, 256, 256, 128, 128, 64, 64)
PAPER_BLOCK_DILATIONS = ((1, 1), (1, 1), (2, 3), (2, 3), (2, 3), (3, 6), (2, 3), (2, 3), (2, 3),
                         (1, 1), (1, 1))

#: Input grid the paper's figures refer to: 26 PRB (12 subcarriers each) x 14 OFDM symbols.
PAPER_NUM_PRB, NUM_OFDM_SYMBOLS = 26, 14
PAPER_NUM_SUBCARRIERS = 12 * PAPER_NUM_PRB

DILATION_ORDERS = ("time_frequency", "frequency_time")

#: The fields of a `DeepRxConfig` that a link sets (`link_dimensions`); a `link_sim.LinkConfig`
#: has the same names.
LINK_DIMENSIONS = ("num_rx_ant", "num_bits_per_symbol", "num_layers")


def link_dimensions(link_config) -> dict[str, int]:
    """The `LINK_DIMENSIONS` of a `link_sim.LinkConfig` (or of a `DeepRxConfig`), as `DeepRxConfig`
    fields."""
    return {name: getattr(link_config, name) for name in LINK_DIMENSIONS}

#: Most MIMO layers of one PUSCH UE (3GPP TS 38.211, Sec. 6.3.1.3).
MAX_NUM_LAYERS = 4

#: Interpolations of the least-squares DMRS channel estimate that DeepRx can take
#: as extra input (`DeepRxConfig.ls_interpolation`): Sionna's nearest-neighbour
#: and linear ones (`sionna.phy.nr.PUSCHLSChannelEstimator`).
LS_INTERPOLATIONS = ("nn", "lin")


@dataclasses.dataclass(frozen=True)
class DeepRxConfig:
    """Architecture of a fully convolutional DeepRx.

    Input ``[batch, num_ofdm_symbols, num_subcarriers, num_input_channels]``:
    the real and imaginary parts of Y, of each layer's DMRS grid Xp and of
    the raw LS estimate Y * conj(Xp) per receive antenna and layer
    (``4 * num_rx_ant + 2`` channels with one layer, the published DeepRx's
    inputs), then, if enabled, ``log10`` of the noise variance
    (``noise_input``) and the real and imaginary parts of the LS channel
    estimate interpolated over the grid (``ls_interpolation``) and the
    LS+LMMSE equalizer's symbol estimates with their noise variance
    (``equalized_input``; see `deeprx_tf.features.GridLayout`). Output one
    logit per bit, layer and resource element,
    ``[batch, num_ofdm_symbols, num_subcarriers, num_layers * num_bits_per_symbol]``
    (layer-major: the bits of layer 0, then of layer 1, ...).

    Parameters
    ----------
    num_rx_ant : int
        Receive antennas.
    num_bits_per_symbol : int
        Bits per QAM symbol (8 for 256-QAM).
    num_layers : int
        MIMO layers of the one UE received, ``1 <= num_layers <=
        min(num_rx_ant, 4)``; several layers are received jointly, as in
        DeepRx MIMO (Korpi et al., "DeepRx MIMO: Convolutional MIMO
        Detection with Learned Multiplicative Transformations", ICC 2021).
    conv_in_filters : int
        Filters of the 3x3 input convolution.
    block_filters : tuple of int
        Output filters of each full pre-activation residual block.
    block_dilations : tuple of (int, int)
        Dilation of each block's depthwise convolutions, in `dilation_order`.
    dilation_order : "time_frequency" or "frequency_time"
        Which grid axis the first number of each dilation applies to. The
        published table does not say; ``"time_frequency"`` reads (2, 3) as
        2 OFDM symbols by 3 subcarriers.
    depth_multiplier : int
        Depth multiplier of the depthwise convolutions.
    noise_input : bool
        Add ``log10(no)`` (noise plus interference variance per resource
        element) as an input channel, as Sionna's neural receiver tutorial
        does. Not in the published DeepRx.
    ls_interpolation : None, "nn" or "lin"
        Add the LS channel estimate at the DMRS interpolated over the whole
        grid (one complex value per receive antenna), as NVIDIA's neural
        receiver does; Sionna's interpolation of that name. Not in the
        published DeepRx.
    equalized_input : bool
        Add what Sionna's `PUSCHReceiver` equalizes before demapping: the
        LMMSE estimate of each data symbol (LS channel estimate at the DMRS,
        linear interpolation) and ``log10`` of its effective noise variance
        (3 channels, 0 off the data resource elements). The network then
        corrects a classical receiver instead of learning the equalization
        from products of its inputs. Not in the published DeepRx.
    """

    num_rx_ant: int = 2
    num_bits_per_symbol: int = 8
    num_layers: int = 1
    conv_in_filters: int = 64
    block_filters: tuple[int, ...] = PAPER_BLOCK_FILTERS
    block_dilations: tuple[tuple[int, int], ...] = PAPER_BLOCK_DILATIONS
    dilation_order: str = "time_frequency"
    depth_multiplier: int = 2
    noise_input: bool = False
    ls_interpolation: str | None = None
    equalized_input: bool = False

    def __post_init__(self):
        set_ = object.__setattr__  # frozen: normalise JSON lists to tuples once
        try:
            filters = tuple(self.block_filters)
            dilations = tuple(tuple(pair) for pair in self.block_dilations)
        except TypeError:
            raise InputError("block_filters must be a list of integers and block_dilations a list of "
                             "(time, frequency) pairs") from None
        if not all(_is_int(f) for f in filters):
            raise InputError(f"block_filters must be a non-empty list of positive integers, got {filters!r}")
        if not all(len(pair) == 2 and all(_is_int(d) for d in pair) for pair in dilations):
            raise InputError("block_dilations must be a list of (time, frequency) pairs of integers")
        set_(self, "block_filters", filters)
        set_(self, "block_dilations", dilations)
        for name in ("num_rx_ant", "num_bits_per_symbol", "num_layers", "conv_in_filters",
                     "depth_multiplier"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if self.num_layers > min(self.num_rx_ant, MAX_NUM_LAYERS):
            raise InputError(f"num_layers ({self.num_layers}) cannot exceed num_rx_ant ({self.num_rx_ant}) "
                             f"nor {MAX_NUM_LAYERS} (the layers of one PUSCH UE)")
        if not self.block_filters or min(self.block_filters) < 1:
            raise InputError("block_filters must be a non-empty list of positive integers")
        if len(self.block_dilations) != len(self.block_filters):
            raise InputError(f"block_dilations has {len(self.block_dilations)} entries, "
                             f"block_filters {len(self.block_filters)}: give one per block")
        if any(d < 1 for pair in self.block_dilations for d in pair):
            raise InputError("dilations must be positive")
        for name in ("noise_input", "equalized_input"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.ls_interpolation is not None and self.ls_interpolation not in LS_INTERPOLATIONS:
            raise InputError(f"ls_interpolation must be null or one of {LS_INTERPOLATIONS}, "
                             f"got {self.ls_interpolation!r}")
        if self.dilation_order not in DILATION_ORDERS:
            raise InputError(f"dilation_order must be one of {DILATION_ORDERS}, got {self.dilation_order!r}")

    # ------------------------------------------------------------------ presets
    @classmethod
    def preset(cls, name: str, num_rx_ant: int = 2, num_bits_per_symbol: int = 8,
               num_layers: int = 1) -> "DeepRxConfig":
        """A named architecture: ``"paper"`` (the published DeepRx), or a
        width-scaled one such as ``"x0.25"`` (every filter count times 0.25)."""
        base = cls(num_rx_ant=num_rx_ant, num_bits_per_symbol=num_bits_per_symbol, num_layers=num_layers)
        if name == "paper":
            return base
        if name.startswith("x"):
            try:
                width = float(name[1:])
            except ValueError:
                width = None
            if width is not None:
                return base.scaled(width)
        raise InputError(f"unknown preset {name!r}: use 'paper' or a width multiplier such as 'x0.25'")

    def scaled(self, width_multiplier: float) -> "DeepRxConfig":
        """Every filter count times ``width_multiplier`` (at least 2), same depth and dilations."""
        if not 0 < width_multiplier <= MAX_WIDTH_MULTIPLIER:
            raise InputError(f"width multiplier must be in (0, {MAX_WIDTH_MULTIPLIER:g}], "
                             f"got {width_multiplier}")

        def scale(f):
            return max(2, int(round(f * width_multiplier)))

        return dataclasses.replace(self, conv_in_filters=scale(self.conv_in_filters),
                                   block_filters=tuple(scale(f) for f in self.block_filters))

    @classmethod
    def for_flops(cls, target_flops_per_slot: float, num_subcarriers: int = PAPER_NUM_SUBCARRIERS,
                  num_ofdm_symbols: int = NUM_OFDM_SYMBOLS, num_rx_ant: int = 2,
                  num_bits_per_symbol: int = 8, num_layers: int = 1) -> "DeepRxConfig":
        """The width-scaled paper architecture whose FLOPs per slot come closest to a target.

        Parameters
        ----------
        target_flops_per_slot : float
            FLOPs (2 per multiply-accumulate) of one inference on one slot.
        num_subcarriers, num_ofdm_symbols : int
            The slot grid the target refers to (312 x 14 for the paper).
        num_rx_ant, num_bits_per_symbol, num_layers : int
            As the fields of that name.
        """
        base = cls(num_rx_ant=num_rx_ant, num_bits_per_symbol=num_bits_per_symbol, num_layers=num_layers)
        num_re = num_subcarriers * num_ofdm_symbols
        largest = base.scaled(MAX_WIDTH_MULTIPLIER).flops_per_re() * num_re
        if not 0 < target_flops_per_slot <= largest:
            raise InputError(f"the FLOPs target must be in (0, {largest:.3g}] (the x{MAX_WIDTH_MULTIPLIER:g} "
                             f"model on this grid), got {target_flops_per_slot:g}")
        lo, hi = 1e-3, MAX_WIDTH_MULTIPLIER
        for _ in range(60):  # FLOPs grow monotonically with width: bisect
            mid = (lo * hi) ** 0.5
            if base.scaled(mid).flops_per_re() * num_re < target_flops_per_slot:
                lo = mid
            else:
                hi = mid
        candidates = {base.scaled(w) for w in (lo, hi)}
        return min(candidates, key=lambda c: abs(c.flops_per_re() * num_re - target_flops_per_slot))

    # --------------------------------------------------------------- properties
    @property
    def num_input_channels(self) -> int:
        """``2 * num_rx_ant + 2 * num_layers + 2 * num_rx_ant * num_layers`` (Y, Xp of each
        layer and Y * conj(Xp) per antenna and layer, real and imaginary; ``4 * num_rx_ant + 2``
        with one layer), plus 1 with ``noise_input``, ``2 * num_rx_ant * num_layers`` with
        ``ls_interpolation`` and ``3 * num_layers`` with ``equalized_input``."""
        rx, layers = self.num_rx_ant, self.num_layers
        return (2 * rx + 2 * layers + 2 * rx * layers + int(self.noise_input)
                + (2 * rx * layers if self.ls_interpolation else 0) + 3 * layers * int(self.equalized_input))

    @property
    def pilot_channels(self) -> slice:
        """The input channels holding the DMRS grids Xp (real parts of each layer's, then imaginary
        parts): ``slice(2 * num_rx_ant, 2 * num_rx_ant + 2 * num_layers)``; 0 off the pilots."""
        start = 2 * self.num_rx_ant
        return slice(start, start + 2 * self.num_layers)

    @property
    def num_outputs(self) -> int:
        """Logits per resource element: ``num_layers * num_bits_per_symbol``."""
        return self.num_layers * self.num_bits_per_symbol

    def feature_options(self) -> dict[str, Any]:
        """The optional inputs, as `deeprx_tf.features.GridLayout` takes them."""
        return {"noise_input": self.noise_input, "ls_interpolation": self.ls_interpolation,
                "equalized_input": self.equalized_input}

    def macs_per_re(self) -> int:
        """Multiply-accumulates per resource element, from the layer shapes.

        Counts convolution weights only (each 3x3 or 1x1 weight is one MAC
        per output position); biases, batch norm and ReLU are not counted,
        as the TF profiler does not count them either.
        """
        dm = self.depth_multiplier
        macs = 9 * self.num_input_channels * self.conv_in_filters
        c_in = self.conv_in_filters
        for c_out in self.block_filters:
            macs += 9 * c_in * dm + dm * c_in * c_out        # depthwise + pointwise 1
            macs += 9 * c_out * dm + dm * c_out * c_out      # depthwise + pointwise 2
            macs += c_in * c_out if c_in != c_out else 0     # projection shortcut
            c_in = c_out
        return macs + c_in * self.num_outputs                # 1x1 head

    def flops_per_re(self) -> int:
        """FLOPs per resource element (2 per MAC)."""
        return 2 * self.macs_per_re()

    def flops_per_slot(self, num_subcarriers: int, num_ofdm_symbols: int = NUM_OFDM_SYMBOLS) -> int:
        """FLOPs of one inference on a ``num_ofdm_symbols x num_subcarriers`` slot."""
        return self.flops_per_re() * num_subcarriers * num_ofdm_symbols

    def size_vs_paper(self) -> float:
        """FLOPs per resource element relative to the paper's DeepRx (same antennas, bits and layers)."""
        paper = DeepRxConfig(**link_dimensions(self))
        return self.flops_per_re() / paper.flops_per_re()

    # --------------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["block_filters"] = list(self.block_filters)
        d["block_dilations"] = [list(p) for p in self.block_dilations]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DeepRxConfig":
        """Build a config from a dictionary; unknown keys are an error."""
        return dataclass_from_dict(cls, data, "DeepRx config")

    def to_json(self, path: str | Path) -> None:
        """Write the architecture to ``path`` as JSON (atomically)."""
        write_json(path, self.to_dict())

    @classmethod
    def from_json(cls, path: str | Path, defaults: dict[str, Any] | None = None) -> "DeepRxConfig":
        """Read an architecture written by `to_json` (or by hand); the fields the file
        omits take their value from ``defaults`` (such as a link's `link_dimensions`),
        else the field's default."""
        return cls.from_dict({**(defaults or {}), **read_json(path, "DeepRx config")})
