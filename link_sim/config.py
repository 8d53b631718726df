"""`LinkConfig`: one frozen, validated, JSON-serialisable PUSCH link scenario."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from link_sim.errors import InputError
from link_sim.results import dataclass_from_dict, read_json, write_json

#: Channel models a `LinkConfig` accepts.
CHANNEL_MODELS = tuple(
    [f"CDL-{m}" for m in "ABCDE"] + [f"TDL-{m}" for m in "ABCDE"] + ["UMi", "AWGN"]
)

#: Modulation order of each MCS index of the 3GPP 38.214 PUSCH table 2
#: (the 256-QAM table, Table 5.1.3.1-2): 0-4 QPSK, 5-10 16-QAM,
#: 11-19 64-QAM, 20-27 256-QAM.
_TABLE2_MODULATION_ORDER = [2] * 5 + [4] * 6 + [6] * 9 + [8] * 8

_RANGE_FIELDS = ("delay_spread_ns", "speed_mps", "sinr_db", "sir_db")

#: Most resource elements (slots x symbols x subcarriers x receive antennas) in one batch:
#: each tensor of a batch then stays below about 0.5 GB.
MAX_BATCH_RESOURCE_ELEMENTS = 2 ** 26
#: SINRs (and SIRs) a scenario, a sweep or a validation may use [dB].
SINR_LIMITS_DB = (-30.0, 60.0)


def _check_range(name: str, value: Any, low: float, high: float) -> tuple[float, float]:
    """Validate a ``(min, max)`` pair within ``[low, high]``; return it as floats."""
    try:
        if isinstance(value, (str, bytes)) or any(isinstance(v, (bool, str, bytes)) for v in value):
            raise TypeError  # "12" is not the pair (1, 2), nor true a number
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(
            f"{name} must be a pair (min, max) of numbers, got {value!r}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError(f"{name} must be finite, got {value!r}")
    if lo > hi:
        raise InputError(f"{name} must be (min, max) with min <= max, got {value!r}")
    if lo < low or hi > high:
        raise InputError(f"{name} must lie within [{low}, {high}], got {value!r}")
    return (lo, hi)


@dataclasses.dataclass(frozen=True)
class LinkConfig:
    """A 5G NR PUSCH uplink scenario: carrier, grid, antennas, MCS, DMRS,
    channel and impairments.

    Every quantity that a reported number depends on lives here, so that a
    result names its scenario. Ranges are ``(min, max)`` pairs from which a
    value is drawn uniformly for each sample (slot).

    Parameters
    ----------
    carrier_frequency_hz : float
        Carrier frequency [Hz].
    subcarrier_spacing_khz : int
        Subcarrier spacing [kHz], 15 or 30 (FR1).
    num_prb : int
        Bandwidth in physical resource blocks (12 subcarriers each), 1-275.
    num_rx_ant : int
        Receive antennas at the base station.
    num_tx_ant : int
        Transmit antennas (antenna ports) at the UE: 1, 2 or 4.
    num_layers : int
        MIMO layers, ``1 <= num_layers <= num_tx_ant``; with fewer layers
        than antennas Sionna's codebook precoding (TPMI 0) is used.
    mcs_index : int
        MCS index of the 256-QAM table (``mcs_table = 2``); 20-27 carry
        256-QAM (8 bits per symbol).
    num_dmrs_symbols : int
        DMRS (pilot) OFDM symbols per slot, 1 or 2
        (``dmrs.additional_position`` 0 or 1).
    channel_model : str
        One of `CHANNEL_MODELS`: ``"CDL-A"``..``"CDL-E"``, ``"TDL-A"``..
        ``"TDL-E"``, ``"UMi"`` (3GPP 38.901 urban micro, single sector) or
        ``"AWGN"``.
    delay_spread_ns : (float, float)
        RMS delay spread range [ns] for the CDL/TDL models (the UMi model
        draws its own).
    speed_mps : (float, float)
        UE speed range [m/s] (Doppler).
    sinr_db : (float, float)
        SINR range [dB] for training data; sweeps take their own grid.
    sir_db : (float, float) or None
        Signal-to-interference ratio range [dB] of one co-channel interferer
        (another UE of a neighbour cell, same numerology, its own channel);
        `None` for no interferer.
    """

    carrier_frequency_hz: float = 3.5e9
    subcarrier_spacing_khz: int = 30
    num_prb: int = 4
    num_rx_ant: int = 2
    num_tx_ant: int = 1
    num_layers: int = 1
    mcs_index: int = 20
    num_dmrs_symbols: int = 1
    channel_model: str = "TDL-C"
    delay_spread_ns: tuple[float, float] = (50.0, 300.0)
    speed_mps: tuple[float, float] = (0.0, 20.0)
    sinr_db: tuple[float, float] = (-4.0, 32.0)
    sir_db: tuple[float, float] | None = None

    def __post_init__(self):
        def check_int(name, low, high):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(f"{name} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise InputError(f"{name} must be in [{low}, {high}], got {value}")

        if not (isinstance(self.carrier_frequency_hz, (int, float))
                and not isinstance(self.carrier_frequency_hz, bool)
                and 4.1e8 <= self.carrier_frequency_hz <= 7.125e9):
            raise InputError(
                "carrier_frequency_hz must be an FR1 frequency in [410e6, 7.125e9] Hz, "
                f"got {self.carrier_frequency_hz!r}")
        check_int("subcarrier_spacing_khz", 15, 30)
        if self.subcarrier_spacing_khz not in (15, 30):
            raise InputError(
                f"subcarrier_spacing_khz must be 15 or 30, got {self.subcarrier_spacing_khz!r}")
        check_int("num_prb", 1, 275)
        check_int("num_rx_ant", 1, 16)
        check_int("num_tx_ant", 1, 4)
        if self.num_tx_ant not in (1, 2, 4):
            raise InputError(f"num_tx_ant must be 1, 2 or 4, got {self.num_tx_ant!r}")
        check_int("num_layers", 1, self.num_tx_ant)
        if self.num_layers > self.num_rx_ant:
            raise InputError(
                f"num_layers ({self.num_layers}) cannot exceed num_rx_ant ({self.num_rx_ant})")
        check_int("mcs_index", 0, 27)
        check_int("num_dmrs_symbols", 1, 2)
        if self.channel_model not in CHANNEL_MODELS:
            raise InputError(
                f"unknown channel model {self.channel_model!r}; "
                f"choose one of {', '.join(CHANNEL_MODELS)}")
        set_ = object.__setattr__  # frozen: normalise ranges to float pairs once
        set_(self, "delay_spread_ns", _check_range("delay_spread_ns", self.delay_spread_ns, 0.0, 5000.0))
        set_(self, "speed_mps", _check_range("speed_mps", self.speed_mps, 0.0, 150.0))
        set_(self, "sinr_db", _check_range("sinr_db", self.sinr_db, *SINR_LIMITS_DB))
        if self.sir_db is not None:
            set_(self, "sir_db", _check_range("sir_db", self.sir_db, *SINR_LIMITS_DB))

    # ------------------------------------------------------------------ derived
    @property
    def num_bits_per_symbol(self) -> int:
        """Bits per modulation symbol of `mcs_index` in the 256-QAM table."""
        return _TABLE2_MODULATION_ORDER[self.mcs_index]

    @property
    def num_subcarriers(self) -> int:
        """Subcarriers of the grid (12 per PRB)."""
        return 12 * self.num_prb

    @property
    def num_ofdm_symbols(self) -> int:
        """OFDM symbols of the grid: one slot with the normal cyclic prefix."""
        return 14

    def check_batch_size(self, batch_size: int, what: str = "batch_size") -> None:
        """Raise `InputError` unless ``batch_size`` slots of this scenario fit in memory:
        at most `MAX_BATCH_RESOURCE_ELEMENTS` resource elements over all receive antennas."""
        if not (isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size >= 1):
            raise InputError(f"{what} must be a positive integer, got {batch_size!r}")
        per_slot = self.num_ofdm_symbols * self.num_subcarriers * self.num_rx_ant
        if batch_size * per_slot > MAX_BATCH_RESOURCE_ELEMENTS:
            raise InputError(f"{what} {batch_size} is too large for this scenario: at most "
                             f"{MAX_BATCH_RESOURCE_ELEMENTS // per_slot} slots of {per_slot} resource "
                             "elements each fit in one batch")

    def require_256qam(self) -> None:
        """Raise `ValueError` unless `mcs_index` selects 256-QAM."""
        if self.num_bits_per_symbol != 8:
            raise InputError(
                f"MCS index {self.mcs_index} of the 256-QAM table is "
                f"{2 ** self.num_bits_per_symbol}-QAM ({self.num_bits_per_symbol} bits/symbol); "
                "this needs 256-QAM: use an MCS index from 20 to 27")

    # --------------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """The scenario as a plain, JSON-ready dictionary."""
        d = dataclasses.asdict(self)
        for name in _RANGE_FIELDS:
            if d[name] is not None:
                d[name] = list(d[name])
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LinkConfig":
        """Build a config from a dictionary; unknown keys are an error."""
        return dataclass_from_dict(cls, data, "link config")

    def replace(self, **changes: Any) -> "LinkConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_json(self, path: str | Path) -> None:
        """Write the scenario to ``path`` as JSON (atomically)."""
        write_json(path, self.to_dict())

    @classmethod
    def from_json(cls, path: str | Path) -> "LinkConfig":
        """Read a scenario written by `to_json` (or by hand)."""
        return cls.from_dict(read_json(path, "link config"))
