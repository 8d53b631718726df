"""Monte Carlo BER/BLER sweeps over SINR, with uncoded BER next to coded BER.

Sionna's ``sim_ber`` drives a `LinkSimulator` directly, but it scores the
decoded information bits only; the paper's metric is the BER of the hard
decisions on the coded bits before decoding. `run_sweep` counts both in one
pass, with ``sim_ber``'s stopping rules (target block errors, maximum
iterations, early stop).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf
from sionna.phy import config as sionna_config

from link_sim.config import SINR_LIMITS_DB
from link_sim.errors import InputError
from link_sim.metrics import TargetNotReached, geometric_mean_ber, sinr_at_ber
from link_sim.montecarlo import DEFAULTS, MonteCarloSettings
from link_sim.simulator import LinkSimulator

_COUNT_KEYS = ("uncoded_bit_errors", "uncoded_bits", "bit_errors", "bits", "block_errors", "blocks")


@dataclasses.dataclass
class SweepPoint:
    """Error counts at one SINR point."""

    sinr_db: float
    iterations: int = 0
    uncoded_bit_errors: int = 0
    uncoded_bits: int = 0
    bit_errors: int = 0
    bits: int = 0
    block_errors: int = 0
    blocks: int = 0
    #: uncoded bit errors of each batch, in order (for confidence intervals, `link_sim.confidence`)
    uncoded_bit_errors_per_batch: list[int] = dataclasses.field(default_factory=list)

    @property
    def uncoded_ber(self) -> float:
        """BER of hard decisions on the coded bits (``nan`` if not available)."""
        return self.uncoded_bit_errors / self.uncoded_bits if self.uncoded_bits > 0 else math.nan

    @property
    def coded_ber(self) -> float:
        """BER of the decoded information bits."""
        return self.bit_errors / self.bits if self.bits else math.nan

    @property
    def bler(self) -> float:
        """Transport block error rate."""
        return self.block_errors / self.blocks if self.blocks else math.nan

    def add(self, counts: dict[str, int]) -> None:
        """Accumulate the counts of one batch."""
        self.iterations += 1
        for key in _COUNT_KEYS:
            setattr(self, key, getattr(self, key) + int(counts[key]))
        self.uncoded_bit_errors_per_batch.append(int(counts["uncoded_bit_errors"]))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.update(uncoded_ber=_json_float(self.uncoded_ber), coded_ber=_json_float(self.coded_ber),
                 bler=_json_float(self.bler))
        return d


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else x


@dataclasses.dataclass
class SweepResult:
    """One receiver's BER/BLER curve over SINR."""

    receiver: str
    points: list[SweepPoint]
    interrupted: bool = False

    def column(self, name: str) -> np.ndarray:
        """One attribute over the points, e.g. ``column("uncoded_ber")``."""
        return np.array([getattr(p, name) for p in self.points], dtype=float)

    def geometric_mean_ber(self, metric: str = "uncoded_ber", zero_ber: str = "floor") -> float:
        """Geometric Mean BER (paper eq. 3) of ``metric`` over the points.

        Zero BERs are floored at 1 / bits simulated at that point by default
        (see `link_sim.metrics.geometric_mean_ber`).
        """
        bits = "uncoded_bits" if metric == "uncoded_ber" else "bits"
        ber = self.column(metric)
        keep = ~np.isnan(ber)
        if not keep.any():
            return math.nan
        return geometric_mean_ber(ber[keep], self.column(bits)[keep], zero_ber)

    def sinr_at_ber(self, target_ber: float, metric: str = "uncoded_ber") -> float | None:
        """SINR [dB] where ``metric`` first reaches ``target_ber``; `None` if it does not."""
        try:
            return sinr_at_ber(self.column("sinr_db"), self.column(metric), target_ber)
        except TargetNotReached:
            return None

    def to_dict(self) -> dict:
        return {
            "receiver": self.receiver,
            "interrupted": self.interrupted,
            "geometric_mean_ber": _json_float(self.geometric_mean_ber("uncoded_ber")),
            "geometric_mean_coded_ber": _json_float(self.geometric_mean_ber("coded_ber")),
            "points": [p.to_dict() for p in self.points],
        }


#: Most SINR points a grid may have.
MAX_SINR_POINTS = 200


def parse_sinr_grid(text: str) -> list[float]:
    """Parse a SINR grid: ``"start:stop:step"`` (stop included) or ``"a,b,c"``.

    Raises
    ------
    ValueError
        If the grid is empty, not numeric, outside `SINR_LIMITS_DB`, longer than
        `MAX_SINR_POINTS` or not strictly increasing.
    """
    text = text.strip()
    try:
        if ":" in text:
            parts = [float(v) for v in text.split(":")]
            if len(parts) != 3:
                raise ValueError
            start, stop, step = parts
            if not step > 0:
                raise InputError(f"SINR grid step must be positive, got {step:g} in {text!r}")
            if not (math.isfinite(start) and math.isfinite(stop)) or (stop - start) / step >= MAX_SINR_POINTS:
                raise InputError(f"SINR grid {text!r} must be finite with at most {MAX_SINR_POINTS} points")
            grid = list(np.round(np.arange(start, stop + step / 2, step), 6))
        else:
            grid = [float(v) for v in text.split(",") if v.strip()]
    except InputError:
        raise
    except ValueError:  # a part that is not a number, or not three parts
        raise InputError(
            f"malformed SINR grid {text!r}: use start:stop:step (e.g. 0:30:5) or a list (e.g. 0,10,20)"
        ) from None
    if not grid:
        raise InputError(f"SINR grid {text!r} is empty")
    low, high = SINR_LIMITS_DB
    if not all(low <= v <= high for v in grid):  # NaN fails too
        raise InputError(f"SINR grid {text!r} must lie within [{low:g}, {high:g}] dB")
    if len(grid) > MAX_SINR_POINTS:
        raise InputError(f"SINR grid {text!r} has {len(grid)} points; at most {MAX_SINR_POINTS}")
    if any(b <= a for a, b in zip(grid, grid[1:])):
        raise InputError(f"SINR grid {text!r} must be strictly increasing")
    return [float(v) for v in grid]


def compile_error_counter(simulator: LinkSimulator, graph_mode: str = DEFAULTS.graph_mode) -> Callable:
    """``f(batch_size, sinr_db) -> counts`` for `simulator`, in eager, graph or XLA mode."""
    MonteCarloSettings(graph_mode=graph_mode)  # validates it
    if graph_mode == "eager":
        return simulator.count_errors
    return tf.function(simulator.count_errors, jit_compile=(graph_mode == "xla"))


def run_sweep(simulator: LinkSimulator, sinr_db: Sequence[float], batch_size: int,
              max_mc_iter: int, num_target_block_errors: int | None = DEFAULTS.num_target_block_errors,
              early_stop: bool = DEFAULTS.early_stop, seed: int = DEFAULTS.seed,
              graph_mode: str = DEFAULTS.graph_mode,
              name: str = "receiver",
              on_point: Callable[[str, SweepPoint], None] | None = None) -> SweepResult:
    """Simulate one receiver over a SINR grid.

    At each point batches are simulated until ``num_target_block_errors``
    transport blocks have failed or ``max_mc_iter`` batches have run. With
    ``early_stop`` the sweep ends after a point with no error at all (no
    coded and no uncoded bit error): higher SINRs would show none either.
    Each point is seeded with ``seed + index``, so receivers swept with the
    same seed see the same bits, channels and noise at every point, and
    their curves differ only by the receiver.

    Ctrl-C ends the sweep cleanly: the result holds the points finished so
    far (the interrupted point too, if it ran a batch) and ``interrupted``.

    Parameters
    ----------
    simulator : LinkSimulator
        Link with the receiver under test.
    sinr_db : sequence of float
        SINR grid [dB].
    batch_size : int
        Slots per batch.
    max_mc_iter : int
        Largest number of batches per point.
    num_target_block_errors : int or None
        Block errors after which a point is done; `None` runs
        ``max_mc_iter`` batches everywhere.
    early_stop : bool
        Stop after an error-free point.
    seed : int
        Base seed.
    graph_mode : "eager", "graph" or "xla"
        Execution mode of the per-batch step.
    name : str
        The receiver's name in the result.
    on_point : callable, optional
        ``on_point(name, point)`` after each finished point (progress).

    Returns
    -------
    SweepResult
    """
    MonteCarloSettings(batch_size, max_mc_iter, num_target_block_errors, early_stop, seed, graph_mode)
    counter = compile_error_counter(simulator, graph_mode)
    result = SweepResult(receiver=name, points=[])
    try:
        for index, sinr in enumerate(sinr_db):
            sionna_config.seed = seed + index
            point = SweepPoint(sinr_db=float(sinr))
            result.points.append(point)
            sinr_t = tf.constant(sinr, tf.float32)
            while point.iterations < max_mc_iter:
                point.add({k: v.numpy() for k, v in counter(batch_size, sinr_t).items()})
                if num_target_block_errors is not None and point.block_errors >= num_target_block_errors:
                    break
            if on_point is not None:
                on_point(name, point)
            if early_stop and point.bit_errors == 0 and point.uncoded_bit_errors == 0:
                break
    except KeyboardInterrupt:
        result.interrupted = True
        if result.points and result.points[-1].iterations == 0:
            result.points.pop()
    return result
