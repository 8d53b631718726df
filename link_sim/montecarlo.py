"""The Monte Carlo settings of a BER sweep and their defaults, in one place.

`link_sim.sweep.run_sweep`, `link_sim.compare.compare_receivers`, the KD
procedure's final step and the command line all take their defaults from
`MonteCarloSettings`. This module imports neither TensorFlow nor Sionna.
"""

from __future__ import annotations

import dataclasses

from link_sim.errors import InputError

#: The SINR points [dB] a comparison sweeps by default (``deeprx simulate``, the KD plan's final step).
DEFAULT_SINR_GRID_DB = (5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0)
#: TensorFlow execution modes of a sweep.
GRAPH_MODES = ("eager", "graph", "xla")


@dataclasses.dataclass(frozen=True)
class MonteCarloSettings:
    """How many slots a SINR point simulates, and how.

    Parameters
    ----------
    batch_size : int
        Slots per Monte Carlo batch.
    max_mc_iter : int
        Largest number of batches per SINR point.
    num_target_block_errors : int or None
        A point is done after this many transport block errors (`None`: never early).
    early_stop : bool
        Skip the rest of a curve after an error-free point (Sionna's ``sim_ber`` rule).
    seed : int
        Seed of the link's random draws.
    graph_mode : str
        One of `GRAPH_MODES`.
    target_ber : float
        Uncoded BER at which SINRs and gains are read.
    """

    batch_size: int = 64
    max_mc_iter: int = 10
    num_target_block_errors: int | None = 100
    early_stop: bool = True
    seed: int = 0
    graph_mode: str = "graph"
    target_ber: float = 1e-3

    def __post_init__(self):
        for name in ("batch_size", "max_mc_iter", "num_target_block_errors", "seed"):
            value = getattr(self, name)
            if value is None and name == "num_target_block_errors":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or (value < 1 and name != "seed"):
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.early_stop, bool):
            raise InputError(f"early_stop must be true or false, got {self.early_stop!r}")
        if self.graph_mode not in GRAPH_MODES:
            raise InputError(f"graph_mode must be one of {', '.join(GRAPH_MODES)}, got {self.graph_mode!r}")
        if not 0 < self.target_ber < 1:  # NaN fails too
            raise InputError(f"target_ber must be in (0, 1), got {self.target_ber}")


#: The defaults, as attributes (``DEFAULTS.batch_size``).
DEFAULTS = MonteCarloSettings()
