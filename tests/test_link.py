"""End-to-end Sionna PUSCH links on a 1-PRB grid."""

import numpy as np
import pytest
from sionna.phy import config as sionna_config
from sionna.phy.utils import sim_ber

from link_sim import LinkSimulator, LinkTransmitter
from link_sim.sweep import run_sweep


def _sweep(config, receiver, grid, iters=3, batch=16):
    return run_sweep(LinkSimulator(config, receiver), grid, batch_size=batch, max_mc_iter=iters,
                     num_target_block_errors=None, early_stop=False, seed=7)


def test_256qam_carries_8_bits_per_symbol(tiny_config):
    tx = LinkTransmitter(tiny_config)
    assert tx.num_bits_per_symbol == 8
    num_data_re = int(tx.resource_grid.num_data_symbols)
    assert tx.num_coded_bits == 8 * num_data_re
    sionna_config.seed = 1
    x, b = tx(4)
    # every data RE carries a point of the unit-energy 256-QAM constellation
    pilots = tx.pilot_pattern.mask[0, 0].numpy().astype(bool)
    data = x.numpy()[:, 0, 0][:, ~pilots]
    data = data[np.abs(data) > 0]
    levels = np.unique(np.round(data.real * np.sqrt(170), 3))
    assert set(levels) == {-15, -13, -11, -9, -7, -5, -3, -1, 1, 3, 5, 7, 9, 11, 13, 15}


def test_llr_sign_convention_and_labels(tiny_config):
    """At very high SINR over AWGN, hard decisions llr > 0 reproduce the coded bits exactly."""
    sim = LinkSimulator(tiny_config.replace(channel_model="AWGN"), "lmmse")
    sionna_config.seed = 3
    batch, b_hat, llr = sim.run(8, 60.0)
    np.testing.assert_array_equal((llr.numpy() > 0).astype(np.float32), batch.c.numpy())
    np.testing.assert_array_equal(b_hat.numpy(), batch.b.numpy())
    assert batch.c.shape == (8, 1, sim.transmitter.num_coded_bits)


def test_impairment_power_matches_sinr(tiny_config):
    """Received power per RE is signal (1) plus impairment 10**(-SINR/10)."""
    sim = LinkSimulator(tiny_config.replace(channel_model="AWGN"), "lmmse")
    sionna_config.seed = 5
    batch = sim.transmit(64, 0.0)  # SINR 0 dB: noise power 1
    np.testing.assert_allclose(batch.no.numpy(), 1.0, rtol=1e-6)
    noise = batch.y.numpy() - batch.x.numpy()  # AWGN SIMO: h = 1 on both antennas
    assert np.mean(np.abs(noise) ** 2) == pytest.approx(1.0, rel=0.03)


def test_lmmse_ber_falls_with_sinr(tiny_config):
    res = _sweep(tiny_config, "lmmse", [0.0, 12.0, 24.0])
    ber = res.column("uncoded_ber")
    assert ber[0] > ber[1] > ber[2]
    assert res.column("bler")[0] == 1.0


def test_perfect_csi_never_worse_than_ls(tiny_config):
    grid = [5.0, 15.0, 25.0]
    ls = _sweep(tiny_config, "lmmse", grid)
    pcsi = _sweep(tiny_config, "perfect-csi", grid)
    assert np.all(pcsi.column("uncoded_ber") <= ls.column("uncoded_ber"))
    assert np.all(pcsi.column("bit_errors") <= ls.column("bit_errors"))
    # same seed: same bits simulated
    np.testing.assert_array_equal(pcsi.column("bits"), ls.column("bits"))


def test_awgn_high_sinr_is_error_free(tiny_config):
    res = _sweep(tiny_config.replace(channel_model="AWGN"), "lmmse", [35.0], iters=4)
    assert res.points[0].bit_errors == 0 and res.points[0].block_errors == 0
    assert res.points[0].bits > 0


def test_interference_raises_ber(tiny_config):
    """Same thermal noise (SNR 30 dB); an interferer at SIR 10 dB raises the BER.

    With SIR 10 dB and noise 1e-3, the SINR is -10 log10(0.1 + 0.001) = 9.957 dB.
    """
    clean = _sweep(tiny_config, "lmmse", [30.0])
    sinr = -10 * np.log10(0.1 + 0.001)
    interfered = _sweep(tiny_config.replace(sir_db=(10.0, 10.0)), "lmmse", [sinr])
    assert interfered.points[0].uncoded_ber > 3 * clean.points[0].uncoded_ber


def test_interferer_share_and_noise(tiny_config):
    """With SIR 10 dB at SINR 9.957 dB the thermal noise left is 1e-3 (SNR 30 dB)."""
    sim = LinkSimulator(tiny_config.replace(channel_model="AWGN", sir_db=(10.0, 10.0)), "lmmse")
    sionna_config.seed = 2
    sinr = -10 * np.log10(0.1 + 0.001)
    batch = sim.transmit(32, sinr)
    np.testing.assert_allclose(batch.no.numpy(), 0.101, rtol=1e-5)
    residual = batch.y.numpy() - batch.x.numpy()  # interference + noise
    assert np.mean(np.abs(residual) ** 2) == pytest.approx(0.101, rel=0.05)


@pytest.mark.parametrize("channel", ["CDL-B", "UMi"])
def test_other_channel_models_run(tiny_config, channel):
    sim = LinkSimulator(tiny_config.replace(channel_model=channel), "perfect-csi")
    batch = sim.transmit(4, 20.0)
    h = batch.h.numpy()
    assert h.shape == (4, 1, 2, 1, 1, 14, 12)
    # normalised: unit average energy per receive antenna
    assert np.mean(np.abs(h) ** 2) == pytest.approx(1.0, rel=0.5)


def test_mimo_two_layers(tiny_config):
    cfg = tiny_config.replace(num_tx_ant=2, num_layers=2, num_rx_ant=2, channel_model="AWGN")
    sim = LinkSimulator(cfg, "lmmse")
    sionna_config.seed = 4
    batch, b_hat, llr = sim.run(4, 45.0)
    assert batch.x.shape[2] == 2
    np.testing.assert_array_equal((llr.numpy() > 0).astype(np.float32), batch.c.numpy())


def test_sim_ber_drives_the_simulator(tiny_config):
    sim = LinkSimulator(tiny_config, "perfect-csi")
    ber, bler = sim_ber(sim, [0.0, 30.0], batch_size=8, max_mc_iter=2, graph_mode="graph",
                        verbose=False)
    assert ber[0] > ber[1]
    assert float(bler[0]) == 1.0
