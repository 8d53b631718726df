"""Confidence intervals of BER curves over training seeds and Monte Carlo batches.

A learned receiver's BER curve varies with its training seed (weights,
data order) and with the Monte Carlo draws it is measured on. To compare
two training recipes (a distilled student against the same student
trained from scratch, say), each recipe is trained with several seeds and
every model is swept over the same link draws (`link_sim.sweep.run_sweep`
with one seed and a fixed number of batches per point). `SeedCurves`
holds the uncoded bit errors of one recipe per seed, point and batch.

The intervals combine both sources of variance:

- **seeds**: the sample variance of the per-seed BERs over the number of
  seeds;
- **Monte Carlo**: the variance of the seed-averaged BER over batches (the
  batches are shared by every seed, so their noise does not show in the
  spread over seeds and is added);

and take Student's t quantile at the Welch-Satterthwaite degrees of
freedom of that sum, capped at the seed component's (seeds - 1): the
Welch-Satterthwaite estimate is itself uncertain with so few seeds, and
uncapped it could credit three seeds with more degrees of freedom than
they have, giving an interval narrower than the seeds' spread alone
allows. The cap errs on the wide side where Monte Carlo variance
dominates (its coverage over synthetic recipes is measured by the tests,
`tests/test_confidence.py`).

BER intervals are built on ``log10(BER)`` (delta method), so they stay
positive and are symmetric on a log plot. A SINR gain at a target BER is
read between the recipes' mean curves (`link_sim.metrics.sinr_at_ber`);
its interval adds the spread of the per-seed gains (recipes paired by
seed: seed ``k`` of both trained on the same data) to its Monte Carlo
variance from a bootstrap over the shared batches. When no gain is shown,
`GainEstimate.equivalence_bound_db` states what the data rule out (two
one-sided tests): no difference larger than that bound, which a margin
declared before the runs can be held against (`GainEstimate.conclusion`).

Pure numpy and scipy, so it applies to results read back from JSON.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from link_sim.errors import InputError
from link_sim.metrics import TargetNotReached, sinr_at_ber

#: BER levels, lowest first, that `common_ber_level` tries.
BER_LEVELS = (1e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1)


@dataclasses.dataclass(frozen=True)
class SeedCurves:
    """Uncoded bit errors of one receiver recipe, per training seed, SINR point and batch.

    Parameters
    ----------
    name : str
    sinr_db : [num_points], float
        SINR grid [dB], strictly increasing.
    errors : [num_seeds, num_points, num_batches], int
        Uncoded bit errors of each seed's model in each batch; batch ``b``
        at point ``p`` is the same link draw for every seed (and every
        recipe compared with it).
    bits_per_batch : [num_points], int
        Coded bits scored in one batch.
    """

    name: str
    sinr_db: np.ndarray
    errors: np.ndarray
    bits_per_batch: np.ndarray

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "sinr_db", np.asarray(self.sinr_db, float))
        set_(self, "errors", np.asarray(self.errors, float))
        set_(self, "bits_per_batch", np.asarray(self.bits_per_batch, float))
        if self.errors.ndim != 3 or self.errors.shape[1] != self.sinr_db.size:
            raise InputError(f"{self.name}: errors must be [seeds, {self.sinr_db.size} points, batches], "
                             f"got {list(self.errors.shape)}")
        if self.bits_per_batch.shape != self.sinr_db.shape or np.any(self.bits_per_batch <= 0):
            raise InputError(f"{self.name}: bits_per_batch needs one positive count per SINR point")

    @classmethod
    def from_sweeps(cls, name: str, sweeps: Sequence) -> "SeedCurves":
        """One recipe's curves from its seeds' `link_sim.sweep.SweepResult` (or their
        ``to_dict()``), each swept with the same seed and batches on the same grid."""
        points = [[_as_dict(p) for p in _as_dict(s)["points"]] for s in sweeps]
        if not points or any(len(p) != len(points[0]) for p in points):
            raise InputError(f"{name}: give one sweep per seed, all over the same SINR points")
        sinr = [p["sinr_db"] for p in points[0]]
        if any([p["sinr_db"] for p in seed] != sinr for seed in points):
            raise InputError(f"{name}: the seeds' sweeps have different SINR grids")
        per_batch = [[p["uncoded_bit_errors_per_batch"] for p in seed] for seed in points]
        num_batches = {len(b) for seed in per_batch for b in seed}
        if len(num_batches) != 1 or 0 in num_batches:
            raise InputError(f"{name}: every seed and point needs the same number of batches "
                             "(sweep without a block-error target and without early stop)")
        bits = [p["uncoded_bits"] / p["iterations"] for p in points[0]]
        return cls(name, np.array(sinr), np.array(per_batch), np.array(bits))

    @property
    def num_seeds(self) -> int:
        return int(self.errors.shape[0])

    @property
    def num_batches(self) -> int:
        return int(self.errors.shape[2])

    def seed_ber(self) -> np.ndarray:
        """``[num_seeds, num_points]``: each seed's BER."""
        return self.errors.sum(axis=2) / (self.bits_per_batch * self.num_batches)

    def ber(self) -> np.ndarray:
        """``[num_points]``: the mean over seeds (the recipe's curve)."""
        return self.seed_ber().mean(axis=0)

    def ber_interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The recipe's BER and its confidence interval at each point.

        Returns
        -------
        ber, low, high : [num_points] each
            ``low``/``high`` are ``nan`` where no bit error was seen.
        """
        ber = self.ber()
        seeds, batches = self._seed_variance(), self._monte_carlo_variance()
        quantile = _quantile(level, _interval_dof(seeds, self.num_seeds - 1, batches, self.num_batches - 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            half = quantile * np.sqrt(seeds + batches) / (ber * math.log(10))  # in decades
            low = np.where(ber > 0, 10 ** (np.log10(ber) - half), np.nan)
            high = np.where(ber > 0, np.minimum(10 ** (np.log10(ber) + half), 0.5), np.nan)
        return ber, low, high

    def _seed_variance(self) -> np.ndarray:
        """Variance of the mean over seeds from their spread (0 with one seed)."""
        if self.num_seeds < 2:
            return np.zeros(self.sinr_db.size)
        return self.seed_ber().var(axis=0, ddof=1) / self.num_seeds

    def _monte_carlo_variance(self) -> np.ndarray:
        """Variance of the seed-averaged BER over the shared batches."""
        batch_ber = self.errors.mean(axis=0) / self.bits_per_batch[:, None]  # [points, batches]
        if self.num_batches < 2:
            return np.zeros(self.sinr_db.size)
        return batch_ber.var(axis=1, ddof=1) / self.num_batches

    def resampled(self, batch_index: np.ndarray) -> "SeedCurves":
        """The same seeds on a resample of the batches (``[num_points, num_batches]`` indices)."""
        errors = np.take_along_axis(self.errors, batch_index[None], axis=2)
        return dataclasses.replace(self, errors=errors)

    def to_dict(self, level: float = 0.95) -> dict:
        ber, low, high = self.ber_interval(level)
        return {"name": self.name, "num_seeds": self.num_seeds, "num_batches": self.num_batches,
                "sinr_db": self.sinr_db.tolist(), "uncoded_ber": ber.tolist(),
                "ci_low": _json_list(low), "ci_high": _json_list(high), "level": level,
                "seed_uncoded_ber": self.seed_ber().tolist()}


#: What `GainEstimate.conclusion` can say, in the order it checks.
CONCLUSIONS = ("gain", "loss", "equivalent", "inconclusive")


@dataclasses.dataclass(frozen=True)
class GainEstimate:
    """SINR gain [dB] of one recipe over another at a target BER, with its interval.

    ``gain_db`` is read between the mean curves; positive: the candidate
    needs less SINR. ``low_db``/``high_db`` bound it at ``level``
    (``gain_db`` +- a Student's t quantile at ``dof`` degrees of freedom
    times ``std_error_db``). ``seed_gains_db`` are the per-seed gains,
    paired by seed (`None` where a seed's curve does not reach the
    target); ``monte_carlo_std_db`` is the Monte Carlo part of
    ``std_error_db``.
    """

    target_ber: float
    gain_db: float
    low_db: float
    high_db: float
    level: float
    seed_gains_db: list[float | None]
    monte_carlo_std_db: float
    std_error_db: float
    dof: float

    def equivalence_bound_db(self, alpha: float | None = None) -> float:
        """The smallest margin ``m`` [dB] for which two one-sided tests at ``alpha``
        reject both ``gain <= -m`` and ``gain >= m``: the data show no difference larger.

        Parameters
        ----------
        alpha : float, optional
            Level of each one-sided test; default ``1 - level`` (0.05 for a
            95 % interval: the bound is then the larger end of the 90 %
            interval, in absolute value).
        """
        alpha = 1 - self.level if alpha is None else alpha
        if not 0 < alpha < 0.5:
            raise InputError(f"alpha must be in (0, 0.5), got {alpha}")
        return abs(self.gain_db) + float(stats.t.ppf(1 - alpha, self.dof)) * self.std_error_db

    def conclusion(self, margin_db: float, alpha: float | None = None) -> str:
        """What the estimate shows against an equivalence margin declared before the runs.

        Returns
        -------
        str
            ``"gain"`` (the interval lies above 0), ``"loss"`` (below 0),
            ``"equivalent"`` (no gain shown and
            `equivalence_bound_db` ``< margin_db``) or ``"inconclusive"``.
        """
        if not margin_db > 0:
            raise InputError(f"the equivalence margin must be > 0 dB, got {margin_db}")
        if self.low_db > 0:
            return "gain"
        if self.high_db < 0:
            return "loss"
        return "equivalent" if self.equivalence_bound_db(alpha) < margin_db else "inconclusive"

    def to_dict(self, margin_db: float | None = None) -> dict:
        """The fields, the equivalence bound and, given a margin, the conclusion against it."""
        result = {**dataclasses.asdict(self), "equivalence_bound_db": self.equivalence_bound_db()}
        if margin_db is not None:
            result.update(equivalence_margin_db=margin_db, conclusion=self.conclusion(margin_db))
        return result


def sinr_gain_interval(reference: SeedCurves, candidate: SeedCurves, target_ber: float,
                       level: float = 0.95, num_resamples: int = 1000, seed: int = 0) -> GainEstimate:
    """SINR gain of ``candidate`` over ``reference`` at ``target_ber``, with its interval.

    Parameters
    ----------
    reference, candidate : SeedCurves
        Swept on the same SINR grid and batches, with the same number of
        seeds (seed ``k`` of each trained on the same data).
    target_ber : float
        A BER both mean curves reach (see `common_ber_level`).
    level : float
        Confidence level.
    num_resamples : int
        Bootstrap resamples of the batches for the Monte Carlo part.
    seed : int
        Of the bootstrap.

    Raises
    ------
    TargetNotReached
        If either mean curve does not reach ``target_ber``.

    Example
    -------
    Bit errors of three seeds per recipe at 0, 10 and 20 dB, two batches
    each (20,000 bits per batch); the distilled recipe halves them:

    >>> from link_sim.confidence import SeedCurves, sinr_gain_interval
    >>> sinr, bits = [0.0, 10.0, 20.0], [20_000] * 3
    >>> scratch = SeedCurves("scratch", sinr, [[[2000, 2100], [200, 190], [20, 22]],
    ...                                        [[2100, 2000], [210, 200], [24, 20]],
    ...                                        [[1900, 2000], [190, 200], [21, 19]]], bits)
    >>> kd = SeedCurves("kd", sinr, [[[1000, 1050], [100, 95], [10, 11]],
    ...                              [[1100, 1000], [105, 100], [12, 10]],
    ...                              [[950, 1000], [95, 100], [11, 9]]], bits)
    >>> gain = sinr_gain_interval(scratch, kd, target_ber=5e-3)
    >>> print(f"{gain.gain_db:.2f} dB [{gain.low_db:.2f}, {gain.high_db:.2f}]")
    3.09 dB [2.92, 3.25]
    >>> gain.conclusion(margin_db=0.5)
    'gain'
    """
    if reference.num_seeds != candidate.num_seeds or reference.errors.shape != candidate.errors.shape \
            or not np.array_equal(reference.sinr_db, candidate.sinr_db):
        raise InputError(f"{reference.name} and {candidate.name} must have the same seeds, SINR points "
                         "and batches to be compared")
    sinr = reference.sinr_db

    def gain(ref_ber, cand_ber):
        return sinr_at_ber(sinr, ref_ber, target_ber) - sinr_at_ber(sinr, cand_ber, target_ber)

    estimate = gain(reference.ber(), candidate.ber())
    seed_gains = []
    for ref_ber, cand_ber in zip(reference.seed_ber(), candidate.seed_ber()):
        try:
            seed_gains.append(gain(ref_ber, cand_ber))
        except TargetNotReached:
            seed_gains.append(None)
    # Monte Carlo: the same batch resample for both recipes (they saw the same draws)
    rng = np.random.default_rng(seed)
    shape = (sinr.size, reference.num_batches)
    replicates = []
    for _ in range(num_resamples):
        index = rng.integers(0, reference.num_batches, shape)
        try:
            replicates.append(gain(reference.resampled(index).ber(), candidate.resampled(index).ber()))
        except TargetNotReached:
            continue
    mc_variance = float(np.var(replicates, ddof=1)) if len(replicates) > 1 else 0.0
    reached = [g for g in seed_gains if g is not None]
    seed_variance = float(np.var(reached, ddof=1)) / len(reached) if len(reached) > 1 else 0.0
    dof = float(_interval_dof(seed_variance, len(reached) - 1, mc_variance, reference.num_batches - 1))
    std_error = math.sqrt(seed_variance + mc_variance)
    half = _quantile(level, dof) * std_error
    return GainEstimate(target_ber, float(estimate), float(estimate - half), float(estimate + half), level,
                        seed_gains, math.sqrt(mc_variance), std_error, dof)


def common_ber_level(curves: Sequence[SeedCurves], levels: Sequence[float] = BER_LEVELS) -> float | None:
    """The lowest of ``levels`` that every curve's mean reaches within its grid (`None`: none)."""
    for level in sorted(levels):
        try:
            for curve in curves:
                sinr_at_ber(curve.sinr_db, curve.ber(), level)
        except TargetNotReached:
            continue
        return level
    return None


def _welch_dof(seed_variance, seed_dof: int, batch_variance, batch_dof: int):
    """Welch-Satterthwaite degrees of freedom of the sum of the two variance estimates
    (elementwise; infinite where both are 0 or a part has no degrees of freedom)."""
    seed_variance, batch_variance = np.asarray(seed_variance, float), np.asarray(batch_variance, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        seed_term = seed_variance ** 2 / seed_dof if seed_dof > 0 else np.zeros_like(seed_variance)
        batch_term = batch_variance ** 2 / batch_dof if batch_dof > 0 else np.zeros_like(batch_variance)
        dof = (seed_variance + batch_variance) ** 2 / (seed_term + batch_term)
    return np.where(np.isfinite(dof), dof, np.inf)


def _interval_dof(seed_variance, seed_dof: int, batch_variance, batch_dof: int):
    """Degrees of freedom of an interval on seed + Monte Carlo variance: Welch-Satterthwaite,
    never more than the seeds have (``seed_dof``) when there are two or more."""
    dof = _welch_dof(seed_variance, seed_dof, batch_variance, batch_dof)
    return np.minimum(dof, seed_dof) if seed_dof > 0 else dof


def _quantile(level: float, dof):
    """Two-sided quantile of Student's t with ``dof`` degrees of freedom (normal where infinite)."""
    if not 0 < level < 1:
        raise InputError(f"the confidence level must be in (0, 1), got {level}")
    return stats.t.ppf(0.5 + level / 2, dof)


def _as_dict(item):
    return item if isinstance(item, dict) else item.to_dict()


def _json_list(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in values]
