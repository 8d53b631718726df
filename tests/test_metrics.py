import math

import numpy as np
import pytest

from link_sim.metrics import (TargetNotReached, geometric_mean_ber, sinr_at_ber, sinr_gain_at_ber,
                              sinr_shift_db)


def test_geometric_mean_ber_hand_computed():
    # (log10 1e-1 + log10 1e-2 + log10 1e-3) / 3 = -2
    assert geometric_mean_ber([1e-1, 1e-2, 1e-3]) == pytest.approx(-2.0)
    # (log10 0.2 + log10 0.05) / 2 = log10(0.01) / 2 = -1
    assert geometric_mean_ber([0.2, 0.05]) == pytest.approx(-1.0)


def test_geometric_mean_ber_zero_rules():
    ber, bits = [1e-1, 1e-2, 0.0], [1000, 1000, 10_000]
    # floor: the zero becomes 1/10000 -> (-1 - 2 - 4) / 3
    assert geometric_mean_ber(ber, bits, "floor") == pytest.approx(-7 / 3)
    # skip: (-1 - 2) / 2
    assert geometric_mean_ber(ber, bits, "skip") == pytest.approx(-1.5)
    assert math.isnan(geometric_mean_ber([0.0, 0.0], zero_ber="skip"))
    with pytest.raises(ValueError, match="num_bits"):
        geometric_mean_ber(ber)
    with pytest.raises(ValueError):
        geometric_mean_ber([1.5])


def test_sinr_at_ber_log_linear_interpolation():
    # between (10 dB, 1e-2) and (20 dB, 1e-4), log-linear: 1e-3 at 15 dB
    assert sinr_at_ber([0, 10, 20, 30], [1e-1, 1e-2, 1e-4, 1e-6], 1e-3) == pytest.approx(15.0)
    # 2e-3 is log10(2)=0.301 of a decade above 1e-3: 10 + 10 * (1 - 0.301) / 2
    expected = 10 + 10 * (np.log10(1e-2) - np.log10(2e-3)) / 2
    assert sinr_at_ber([0, 10, 20], [1e-1, 1e-2, 1e-4], 2e-3) == pytest.approx(expected)
    # a zero BER at the first point below the target: crossing taken there
    assert sinr_at_ber([0, 10, 20], [1e-1, 1e-2, 0.0], 1e-3) == pytest.approx(20.0)


def test_sinr_at_ber_not_reached():
    with pytest.raises(TargetNotReached, match="never reaches"):
        sinr_at_ber([0, 10, 20], [1e-1, 1e-2, 5e-3], 1e-3)
    with pytest.raises(TargetNotReached, match="lowest SINR"):
        sinr_at_ber([0, 10], [1e-4, 1e-5], 1e-3)
    with pytest.raises(ValueError, match="increasing"):
        sinr_at_ber([10, 0], [1e-1, 1e-4], 1e-3)


def test_sinr_gain_at_ber():
    ref = ([0, 10, 20, 30], [1e-1, 1e-2, 1e-3, 1e-4])  # 1e-3 at 20 dB
    cand = ([0, 10, 20, 30], [1e-2, 1e-3, 1e-4, 1e-5])  # 1e-3 at 10 dB
    assert sinr_gain_at_ber(ref, cand, 1e-3) == pytest.approx(10.0)
    assert sinr_gain_at_ber(cand, ref, 1e-3) == pytest.approx(-10.0)
    with pytest.raises(TargetNotReached, match="reference curve"):
        sinr_gain_at_ber(([0, 10], [1e-1, 1e-2]), cand, 1e-3)


def test_sinr_shift_db_of_parallel_and_noisy_curves():
    sinr = np.arange(19.0, 24.0)
    ref = 10.0 ** (-0.07 * sinr - 0.5)  # a flat, floor-like curve: 0.07 decades per dB
    # the same curve 0.75 dB to the right: exactly that shift
    assert sinr_shift_db(sinr, ref, 10.0 ** (-0.07 * (sinr - 0.75) - 0.5)) == pytest.approx(0.75)
    assert sinr_shift_db(sinr, ref, ref) == pytest.approx(0.0, abs=1e-12)
    # +-2 % noise on the candidate moves the fit little; it moves one interpolated crossing more
    noise = np.array([1.02, 0.98, 1.02, 0.98, 1.02])
    noisy = 10.0 ** (-0.07 * (sinr - 0.75) - 0.5) * noise
    assert sinr_shift_db(sinr, ref, noisy) == pytest.approx(0.75, abs=0.1)
    target = float(ref[2])
    crossing_error = abs(-sinr_gain_at_ber((sinr, ref), (sinr, noisy), target) - 0.75)
    assert crossing_error > abs(sinr_shift_db(sinr, ref, noisy) - 0.75)
    with pytest.raises(ValueError, match="do not fall"):
        sinr_shift_db(sinr, np.full(5, 1e-2), np.full(5, 2e-2))
    with pytest.raises(ValueError, match="positive"):
        sinr_shift_db(sinr, ref, np.zeros(5))
    with pytest.raises(ValueError, match="same length"):
        sinr_shift_db(sinr, ref, ref[:3])


def test_result_files_are_strict_json_and_honour_the_umask(tmp_path):
    import json
    import os

    from link_sim.results import write_json

    old = os.umask(0o027)
    try:
        path = write_json(tmp_path / "r.json", {"ber": float("nan"), "gains": [1.5, float("inf")]})
    finally:
        os.umask(old)
    assert json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(c)) == {
        "ber": None, "gains": [1.5, None]}
    assert path.stat().st_mode & 0o777 == 0o640
