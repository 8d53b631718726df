"""Confidence intervals over seeds and Monte Carlo batches: coverage on synthetic recipes."""

import numpy as np
import pytest

from scipy import stats

from link_sim.confidence import CONCLUSIONS, SeedCurves, common_ber_level, sinr_gain_interval
from link_sim.errors import InputError
from link_sim.metrics import TargetNotReached

SINR = np.array([0.0, 5.0, 10.0, 15.0, 20.0])
BITS = 20_000  # coded bits per batch


def true_ber(shift_db=0.0):
    """A curve falling one decade per 5 dB: 1e-1 at 0 dB (shifted left by shift_db)."""
    return 10 ** (-1 - (SINR + shift_db) / 5)


def draw(rng, mean_ber, num_seeds=3, num_batches=8, seed_spread=0.15, draws=None):
    """Per-seed BER = mean x 10^(N(0, spread)) (training luck); errors per batch ~ Poisson around
    it, with slot-level fading shared by every seed of the batch (the same link draws)."""
    seed_ber = mean_ber[None] * 10 ** rng.normal(0, seed_spread, (num_seeds, SINR.size))
    fading = draws if draws is not None else rng.gamma(4.0, 0.25, (SINR.size, num_batches))
    return rng.poisson(seed_ber[..., None] * fading[None] * BITS), fading


def test_ber_interval_covers_the_recipe_mean():
    """Over many synthetic experiments, the 95 % interval holds the recipe's true mean BER
    (the expectation over training seeds) at least at its stated level at every point
    (conservative: its degrees of freedom are capped at the three seeds' two)."""
    rng = np.random.default_rng(0)
    target = true_ber() * np.mean(10 ** rng.normal(0, 0.15, 200_000))  # E over seeds of the seed BER
    hits = np.zeros(SINR.size)
    trials = 300
    for _ in range(trials):
        errors, _ = draw(rng, true_ber())
        _, low, high = SeedCurves("r", SINR, errors, np.full(SINR.size, BITS)).ber_interval()
        hits += (low <= target) & (target <= high)
    coverage = hits / trials
    assert np.all(coverage >= 0.93), coverage  # 0.95 less 1.5 binomial standard errors of 300 trials


def test_more_seeds_and_batches_narrow_the_interval():
    rng = np.random.default_rng(1)
    widths = []
    for seeds, batches in ((3, 4), (10, 40)):
        errors, _ = draw(rng, true_ber(), seeds, batches)
        _, low, high = SeedCurves("r", SINR, errors, np.full(SINR.size, BITS)).ber_interval()
        widths.append(np.log10(high / low))
    seen = ~np.isnan(widths[0])  # 4 batches see no error at the highest SINR: no interval there
    assert seen.sum() >= 3 and np.all(widths[1][seen] < widths[0][seen])


def test_gain_of_a_shifted_recipe_is_found_with_its_interval():
    """A recipe 2 dB better at every BER: the gain at 1e-3 is about 2 dB, the interval holds it,
    and the per-seed gains are paired by seed."""
    rng = np.random.default_rng(2)
    scratch, fading = draw(rng, true_ber(), num_seeds=4, num_batches=10)
    kd, _ = draw(rng, true_ber(2.0), num_seeds=4, num_batches=10, draws=fading)
    bits = np.full(SINR.size, BITS)
    a, b = SeedCurves("scratch", SINR, scratch, bits), SeedCurves("kd", SINR, kd, bits)
    assert common_ber_level([a, b]) == pytest.approx(1e-4)
    gain = sinr_gain_interval(a, b, 1e-3, num_resamples=300)
    assert gain.low_db < 2.0 < gain.high_db and abs(gain.gain_db - 2.0) < 1.0
    assert len(gain.seed_gains_db) == 4 and gain.monte_carlo_std_db > 0
    # a BER level the curves do not reach within the grid
    with pytest.raises(TargetNotReached):
        sinr_gain_interval(a, b, 1e-7)


def gain_trials(shift_db, trials, seed_spread, num_seeds, num_batches, seed=5):
    """`sinr_gain_interval` at 1e-3 over synthetic experiments: a recipe ``shift_db`` better
    than its reference, both on the same link draws, seed ``k`` of each paired."""
    rng = np.random.default_rng(seed)
    bits = np.full(SINR.size, BITS)
    for trial in range(trials):
        reference, fading = draw(rng, true_ber(), num_seeds, num_batches, seed_spread)
        candidate, _ = draw(rng, true_ber(shift_db), num_seeds, num_batches, seed_spread, draws=fading)
        yield sinr_gain_interval(SeedCurves("scratch", SINR, reference, bits),
                                 SeedCurves("kd", SINR, candidate, bits), 1e-3, num_resamples=100, seed=trial)


def test_gain_interval_covers_the_true_gain_with_three_seeds():
    """The KD experiment's design (3 seeds, 4 batches) with a large seed spread: the 95 % gain
    interval holds the true 1 dB at least at its stated level (the Welch-Satterthwaite degrees of
    freedom uncapped covered 92 % here)."""
    gains = list(gain_trials(1.0, 300, seed_spread=0.3, num_seeds=3, num_batches=4))
    coverage = np.mean([g.low_db <= 1.0 <= g.high_db for g in gains])
    assert coverage >= 0.93, coverage  # 0.95 less 1.5 binomial standard errors of 300 trials
    assert all(g.dof <= 2 for g in gains)  # no more than the three seeds have


def test_equivalence_is_declared_rarely_at_the_margin_and_often_at_zero():
    """Two one-sided tests at 5 %: a true gain equal to the margin is called equivalent in
    at most about 5 % of experiments; with precise curves and no true gain, nearly always."""
    at_margin = [g.conclusion(1.0) for g in gain_trials(1.0, 300, seed_spread=0.15, num_seeds=3, num_batches=4)]
    assert np.mean([c == "equivalent" for c in at_margin]) <= 0.07
    at_zero = list(gain_trials(0.0, 40, seed_spread=0.02, num_seeds=5, num_batches=10))
    assert np.mean([g.conclusion(1.0) == "equivalent" for g in at_zero]) >= 0.9
    record = at_zero[0].to_dict(margin_db=1.0)
    assert record["equivalence_bound_db"] == pytest.approx(at_zero[0].equivalence_bound_db())
    assert record["conclusion"] in CONCLUSIONS and record["equivalence_margin_db"] == 1.0
    # the bound is the larger end of the 90 % interval in absolute value
    ninety = at_zero[0].gain_db + np.array([-1, 1]) * stats.t.ppf(0.95, at_zero[0].dof) * at_zero[0].std_error_db
    assert at_zero[0].equivalence_bound_db() == pytest.approx(np.abs(ninety).max())
    with pytest.raises(InputError, match="margin"):
        at_zero[0].conclusion(0.0)


def test_curves_from_sweeps_and_refusals():
    point = {"sinr_db": 10.0, "iterations": 2, "uncoded_bits": 200, "uncoded_bit_errors_per_batch": [3, 5]}
    sweep = {"points": [point, {**point, "sinr_db": 20.0, "uncoded_bit_errors_per_batch": [0, 1]}]}
    curves = SeedCurves.from_sweeps("r", [sweep, sweep])
    assert curves.errors.shape == (2, 2, 2)
    np.testing.assert_allclose(curves.ber(), [8 / 200, 1 / 200])
    ber, low, high = curves.ber_interval()
    assert np.all(low < ber) and np.all(ber < high)
    with pytest.raises(InputError, match="same number of batches"):
        SeedCurves.from_sweeps("r", [sweep, {"points": [{**point, "uncoded_bit_errors_per_batch": [1]},
                                                         sweep["points"][1]]}])
    with pytest.raises(InputError, match="same seeds"):
        sinr_gain_interval(curves, SeedCurves.from_sweeps("r", [sweep]), 1e-2)
