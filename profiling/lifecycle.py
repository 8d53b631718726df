"""Training versus inference energy over a receiver's life.

The paper compares the amortized training energy ``E_t / n`` with the
cumulated inference energy ``E_i * n`` after ``n`` inferences. Two numbers
answer "when does inference overtake training?", and they differ by
orders of magnitude, so both are reported and named:

- the **crossing** of those two curves, ``n* = sqrt(E_t / E_i)`` (the
  reading behind the paper's "about 1e5 inferences" and "ten minutes at
  400 inferences/s");
- the **break-even** of total energy, ``n = E_t / E_i``: after it, the
  energy spent on inference exceeds all the energy spent on training.
"""

from __future__ import annotations

import dataclasses
import math

from link_sim.errors import InputError

#: Inference rate the paper assumes for a base station [inferences per second].
DEFAULT_INFERENCE_RATE = 400.0
#: The paper's training figures: 20 J per step, 250,000 steps.
PAPER_TRAIN_ENERGY_PER_STEP_J = 20.0
PAPER_TRAIN_STEPS = 250_000


@dataclasses.dataclass(frozen=True)
class Lifecycle:
    """Training against inference energy.

    Parameters
    ----------
    training_energy_j : float
        Energy of the whole training [J] (energy per step x steps).
    inference_energy_j : float
        Energy of one inference (one slot) [J].
    inference_rate : float
        Inferences per second in deployment.
    """

    training_energy_j: float
    inference_energy_j: float
    inference_rate: float = DEFAULT_INFERENCE_RATE

    def __post_init__(self):
        for field in ("training_energy_j", "inference_energy_j", "inference_rate"):
            if not getattr(self, field) > 0:
                raise InputError(f"{field} must be positive")

    @classmethod
    def from_steps(cls, energy_per_step_j: float, steps: int, inference_energy_j: float,
                   inference_rate: float = DEFAULT_INFERENCE_RATE) -> "Lifecycle":
        """Training energy as energy per step x steps."""
        return cls(energy_per_step_j * steps, inference_energy_j, inference_rate)

    @property
    def crossing_inferences(self) -> float:
        """``n* = sqrt(E_t / E_i)``: amortized training = cumulated inference."""
        return math.sqrt(self.training_energy_j / self.inference_energy_j)

    @property
    def break_even_inferences(self) -> float:
        """``n = E_t / E_i``: inference energy in total = training energy."""
        return self.training_energy_j / self.inference_energy_j

    @property
    def crossing_seconds(self) -> float:
        return self.crossing_inferences / self.inference_rate

    @property
    def break_even_seconds(self) -> float:
        return self.break_even_inferences / self.inference_rate

    def amortized_training_j(self, n):
        """``E_t / n`` [J per inference] after ``n`` inferences (scalar or array)."""
        return self.training_energy_j / n

    def cumulated_inference_j(self, n):
        """``E_i * n`` [J] after ``n`` inferences (scalar or array)."""
        return self.inference_energy_j * n

    def to_dict(self) -> dict:
        return {
            "training_energy_j": self.training_energy_j,
            "inference_energy_j": self.inference_energy_j,
            "inference_rate_per_s": self.inference_rate,
            "crossing": {
                "meaning": "amortized training E_t/n equals cumulated inference E_i*n",
                "inferences": self.crossing_inferences,
                "seconds_at_rate": self.crossing_seconds,
                "duration_at_rate": format_duration(self.crossing_seconds),
            },
            "break_even": {
                "meaning": "total inference energy E_i*n equals total training energy E_t",
                "inferences": self.break_even_inferences,
                "seconds_at_rate": self.break_even_seconds,
                "duration_at_rate": format_duration(self.break_even_seconds),
            },
        }


def format_duration(seconds: float) -> str:
    """A duration in the largest fitting unit: ``"2.1 min"``, ``"72.3 days"``."""
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"
