"""Figures of merit of BER curves: Geometric Mean BER and SINR gain at a target BER.

Pure numpy, so they apply equally to results read back from JSON.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: How `geometric_mean_ber` treats a BER of zero.
ZERO_BER_RULES = ("floor", "skip")


class TargetNotReached(ValueError):
    """A BER curve does not cross the target BER within its SINR grid."""


def geometric_mean_ber(ber: Sequence[float], num_bits: Sequence[int] | None = None,
                       zero_ber: str = "floor") -> float:
    r"""The paper's Geometric Mean BER, eq. (3): :math:`\frac{1}{N}\sum_i \log_{10} \mathrm{BER}_i`.

    Despite its name it is the mean of the base-10 logarithms (about -2 for
    the paper's models), so lower is better.

    Parameters
    ----------
    ber : sequence of float, [N]
        BER at each SINR point.
    num_bits : sequence of int, [N], optional
        Bits simulated at each point; needed for ``zero_ber="floor"``.
    zero_ber : "floor" or "skip"
        A zero BER says only that BER < 1 / bits simulated. ``"floor"``
        (default) replaces it with ``1 / num_bits[i]``, the smallest BER the
        simulation could have shown (so the figure is an upper bound);
        ``"skip"`` leaves the point out.

    Returns
    -------
    float
        The Geometric Mean BER, ``nan`` if no point remains.
    """
    ber = np.asarray(ber, dtype=float)
    if zero_ber not in ZERO_BER_RULES:
        raise ValueError(f"zero_ber must be one of {ZERO_BER_RULES}, got {zero_ber!r}")
    if np.any(ber < 0) or np.any(ber > 1) or np.any(~np.isfinite(ber)):
        raise ValueError("BER values must lie in [0, 1]")
    zero = ber == 0
    if zero_ber == "floor" and zero.any():
        if num_bits is None:
            raise ValueError("zero_ber='floor' needs num_bits, the bits simulated at each point")
        bits = np.asarray(num_bits, dtype=float)
        if bits.shape != ber.shape or np.any(bits[zero] <= 0):
            raise ValueError("num_bits must give a positive count for every SINR point")
        ber = np.where(zero, 1.0 / np.where(zero, bits, 1.0), ber)
    else:
        ber = ber[~zero]
    return float(np.mean(np.log10(ber))) if ber.size else float("nan")


def sinr_at_ber(sinr_db: Sequence[float], ber: Sequence[float], target_ber: float) -> float:
    """The SINR at which a BER curve first falls to ``target_ber``.

    Log-linear interpolation: ``log10(BER)`` is taken as linear in SINR [dB]
    between the last point above the target and the first point at or below
    it. A zero BER at that first point is taken as reaching the target there
    (the crossing is at most that SINR).

    Parameters
    ----------
    sinr_db : sequence of float, [N]
        Strictly increasing SINR grid [dB].
    ber : sequence of float, [N]
        BER at each point.
    target_ber : float
        Target BER in (0, 1).

    Raises
    ------
    TargetNotReached
        If no point is at or below the target, or the first point already is
        (the crossing lies below the grid).
    """
    sinr = np.asarray(sinr_db, dtype=float)
    ber = np.asarray(ber, dtype=float)
    if sinr.shape != ber.shape or sinr.ndim != 1 or sinr.size == 0:
        raise ValueError("sinr_db and ber must be 1-D sequences of the same length")
    if np.any(np.diff(sinr) <= 0):
        raise ValueError("sinr_db must be strictly increasing")
    if not 0 < target_ber < 1:
        raise ValueError(f"target_ber must be in (0, 1), got {target_ber}")
    below = np.flatnonzero(ber <= target_ber)
    if below.size == 0:
        raise TargetNotReached(
            f"BER never reaches {target_ber:g}: lowest {ber.min():.3g} at "
            f"{sinr[np.argmin(ber)]:g} dB; extend the SINR grid or simulate more")
    i = int(below[0])
    if i == 0:
        raise TargetNotReached(
            f"BER is already {ber[0]:.3g} <= {target_ber:g} at the lowest SINR {sinr[0]:g} dB; "
            "start the SINR grid lower")
    if ber[i] == 0:
        return float(sinr[i])
    lo, hi = np.log10(ber[i - 1]), np.log10(ber[i])
    frac = (np.log10(target_ber) - lo) / (hi - lo)
    return float(sinr[i - 1] + frac * (sinr[i] - sinr[i - 1]))


def sinr_gain_at_ber(reference: tuple[Sequence[float], Sequence[float]],
                     candidate: tuple[Sequence[float], Sequence[float]],
                     target_ber: float = 1e-3) -> float:
    """SINR gain [dB] of ``candidate`` over ``reference`` at ``target_ber``.

    Parameters
    ----------
    reference, candidate : (sinr_db, ber)
        Two BER curves; the grids may differ.
    target_ber : float
        Where the gain is read, 1e-3 by default (the paper's).

    Returns
    -------
    float
        ``sinr_ref - sinr_cand`` at the target: positive when the candidate
        needs less SINR.

    Raises
    ------
    TargetNotReached
        If either curve does not cross the target; the message names which.
    """
    try:
        ref = sinr_at_ber(*reference, target_ber)
    except TargetNotReached as err:
        raise TargetNotReached(f"reference curve: {err}") from None
    try:
        cand = sinr_at_ber(*candidate, target_ber)
    except TargetNotReached as err:
        raise TargetNotReached(f"candidate curve: {err}") from None
    return ref - cand


def sinr_shift_db(sinr_db: Sequence[float], reference_ber: Sequence[float],
                  candidate_ber: Sequence[float]) -> float:
    """Horizontal distance [dB] between two BER curves measured on the same SINR grid.

    Fits ``log10(BER)`` of both curves by least squares with a common slope
    and one intercept each (two parallel lines in SINR) and returns how far
    the candidate's line lies to the right of the reference's. Where a curve
    is flat, as in an error floor, reading one crossing (`sinr_gain_at_ber`)
    swings with each point's Monte-Carlo noise; this uses every point.

    Parameters
    ----------
    sinr_db : sequence of float, [N]
        The common SINR grid [dB], N >= 2.
    reference_ber, candidate_ber : sequence of float, [N]
        BER of each curve at each point; all positive.

    Returns
    -------
    float
        Positive when the candidate needs more SINR for the same BER.

    Raises
    ------
    ValueError
        If the shapes differ, a BER is not positive, or the fitted slope is
        not negative (the curves do not fall with SINR on this grid).
    """
    sinr = np.asarray(sinr_db, dtype=float)
    ref, cand = np.asarray(reference_ber, dtype=float), np.asarray(candidate_ber, dtype=float)
    if not (sinr.ndim == 1 and sinr.size >= 2 and ref.shape == sinr.shape == cand.shape):
        raise ValueError("sinr_db and both BER curves must be 1-D sequences of the same length >= 2")
    if np.any(ref <= 0) or np.any(cand <= 0):
        raise ValueError("every BER must be positive (a zero has no logarithm)")
    # model: log10 BER = slope * sinr + intercept (+ offset for the candidate)
    design = np.column_stack([np.concatenate([sinr, sinr]), np.ones(2 * sinr.size),
                              np.concatenate([np.zeros(sinr.size), np.ones(sinr.size)])])
    (slope, _, offset), *_ = np.linalg.lstsq(design, np.log10(np.concatenate([ref, cand])), rcond=None)
    if not slope < 0:
        raise ValueError(f"the BER curves do not fall with SINR on this grid (fitted slope {slope:.3g} "
                         "decades/dB)")
    return float(-offset / slope)
