"""Multi-layer DeepRx: Sionna's layer and bit order, features per layer, the checks, the CLI."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from sionna.phy import config as sionna_config
from sionna.phy.mapping import Demapper, Mapper
from sionna.phy.nr import LayerMapper, PUSCHTransmitter
from sionna.phy.ofdm import ResourceGridMapper

from deeprx_tf.checkpoint import check_fits_scenario
from deeprx_cli import main
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.features import GridLayout
from deeprx_tf.model import build_deeprx
from deeprx_tf.receiver import DeepRxReceiver
from link_sim import LinkSimulator
from link_sim.errors import InputError
from link_sim.transmitter import make_pusch_config

TINY = DeepRxConfig().scaled(0.0625)


@pytest.fixture(scope="module")
def two_layers(tiny_config):
    """1 PRB, 2 TX x 2 RX antennas, two layers (non-codebook: no precoder)."""
    return tiny_config.replace(num_tx_ant=2, num_rx_ant=2, num_layers=2)


def test_label_grid_follows_sionnas_layer_and_resource_grid_mappers(two_layers):
    """The bits `GridLayout` puts on (RE, layer) are the ones Sionna's own mapper, layer
    mapper and resource grid mapper send there (an independent reference, not our inverse)."""
    tx = PUSCHTransmitter(make_pusch_config(two_layers.replace(num_layers=2)), output_domain="freq")
    layout = GridLayout(tx)
    assert (layout.num_layers, layout.num_bits_per_symbol, layout.num_outputs) == (2, 8, 16)
    rg = tx.resource_grid
    c = tf.cast(np.random.default_rng(0).integers(0, 2, [3, 1, layout.num_data_re * 16]), tf.float32)
    mapper = Mapper("qam", 8)
    # Sionna: bits -> symbols -> layers -> [batch, 1, layers, S, F]
    x = ResourceGridMapper(rg)(LayerMapper(num_layers=2)(mapper(c))).numpy()[:, 0]
    grid = layout.bits_to_grid(c)  # [batch, S, F, 2 * 8]
    data = np.asarray(layout.data_mask) == 1
    for layer in range(2):
        ours = mapper(grid[..., 8 * layer:8 * (layer + 1)])[..., 0].numpy()  # [batch, S, F]
        np.testing.assert_allclose(ours[:, data], x[:, layer][:, data], atol=1e-6)
        # and Xp is what that layer's grid holds off the data REs (its port's DMRS)
        np.testing.assert_allclose(layout.pilot_grid.numpy()[..., layer][~data], x[0, layer][~data], atol=1e-6)
    # the two ports share the REs of CDM group 0 and differ by their cover code
    xp = layout.pilot_grid.numpy()
    assert np.all((xp[..., 0] != 0) == (xp[..., 1] != 0))
    assert not np.allclose(xp[..., 0], xp[..., 1])


def test_two_layer_sionna_transmitter_to_deeprx_receiver(two_layers):
    """Sionna's two-layer PUSCHTransmitter -> identity channel -> DeepRxReceiver whose
    'network' demaps each antenna (antenna l sees layer l only): b_hat is b, bit for bit."""
    tx = PUSCHTransmitter(make_pusch_config(two_layers), output_domain="freq")
    demapper = Demapper("maxlog", "qam", 8)
    num_sc = int(tx.resource_grid.fft_size)

    def oracle(features):  # channels: Re Y (2 antennas), Im Y (2), ...
        llrs = [tf.reshape(demapper(tf.complex(features[..., a], features[..., 2 + a]), tf.constant(1e-4)),
                           [-1, 14, num_sc, 8]) for a in range(2)]
        return tf.concat(llrs, axis=-1)  # layer-major

    config = DeepRxConfig(num_layers=2)
    inputs = keras.Input((14, num_sc, config.num_input_channels))
    model = keras.Model(inputs, keras.layers.Lambda(oracle)(inputs))
    rx = DeepRxReceiver(tx, model, config=config)
    sionna_config.seed = 3
    x, b = tx(4)  # [4, 1, 2 TX antennas, S, F]: no precoding, one antenna per layer
    b_hat = rx(x, tf.constant(1e-4))
    assert b_hat.shape == b.shape == (4, 1, tx._tb_size)
    np.testing.assert_array_equal(b_hat.numpy(), b.numpy())
    # a real (untrained) two-layer DeepRx gives the same shapes through the package's link
    sim = LinkSimulator(two_layers, lambda t: DeepRxReceiver(t, build_deeprx(dataclasses.replace(TINY, num_layers=2))))
    batch, b_hat, llr = sim.run(2, 20.0)
    assert b_hat.shape == batch.b.shape and llr.shape == batch.c.shape


def test_features_per_layer(two_layers):
    tx = PUSCHTransmitter(make_pusch_config(two_layers), output_domain="freq")
    layout = GridLayout(tx, noise_input=True, ls_interpolation="lin", equalized_input=True)
    config = DeepRxConfig(num_layers=2, noise_input=True, ls_interpolation="lin", equalized_input=True)
    sionna_config.seed = 1
    batch = LinkSimulator(two_layers, "lmmse").transmit(2, 25.0)
    f = layout.features(batch.y, batch.no).numpy()
    # 4 (Y) + 4 (Xp) + 8 (LS) + 1 (noise) + 8 (interpolated LS) + 6 (equalized)
    assert f.shape[-1] == config.num_input_channels == 31
    y = np.transpose(batch.y.numpy()[:, 0], (0, 2, 3, 1))  # [batch, S, F, antennas]
    xp = layout.pilot_grid.numpy()
    ls = f[..., 8:12] + 1j * f[..., 12:16]  # antenna-major: (ant 0, layer 0), (0, 1), (1, 0), (1, 1)
    for a in range(2):
        for layer in range(2):
            np.testing.assert_allclose(ls[..., 2 * a + layer], y[..., a] * np.conj(xp[..., layer]), atol=1e-5)


def test_layer_counts_are_checked_in_one_line(two_layers, tiny_config):
    one, two = DeepRxConfig(), DeepRxConfig(num_layers=2)
    assert one.num_input_channels == 10 and two.num_input_channels == 16 and two.num_outputs == 16
    assert one.macs_per_re() < two.macs_per_re()  # wider input convolution and head
    assert DeepRxConfig.from_dict({k: v for k, v in one.to_dict().items() if k != "num_layers"}) == one
    with pytest.raises(InputError, match="num_layers .* cannot exceed num_rx_ant"):
        DeepRxConfig(num_rx_ant=2, num_layers=3)
    with pytest.raises(InputError, match="receives 1 layer\\(s\\), the link sends 2"):
        check_fits_scenario(one, two_layers)
    with pytest.raises(InputError, match="receives 2 layer\\(s\\), the link sends 1"):
        check_fits_scenario(two, tiny_config)
    model = build_deeprx(TINY)
    tx = PUSCHTransmitter(make_pusch_config(two_layers), output_domain="freq")
    with pytest.raises(InputError, match="receives 1 layer\\(s\\), the link sends 2"):
        DeepRxReceiver(tx, model)  # the model carries its configuration
    with pytest.raises(InputError, match="outputs 8 logits per resource element, the link needs 16"):
        DeepRxReceiver(tx, keras.models.clone_model(model))  # a model that does not
    # two UEs: refused in one line
    with pytest.raises(InputError, match="one UE"):
        GridLayout(PUSCHTransmitter([make_pusch_config(tiny_config), make_pusch_config(tiny_config)],
                                    output_domain="freq"))


@pytest.mark.slow
def test_two_layer_train_distill_export_simulate_cli(tmp_path):
    """The whole package on two layers: an architecture file without the link's fields takes
    the scenario's; a preset student takes the teacher's inputs; int8 export; the link."""
    scenario = ["--num-prb", "1", "--speed", "0,3", "--num-tx-ant", "2", "--num-rx-ant", "2",
                "--num-layers", "2"]
    tiny_run = ["--steps", "2", "--steps-per-epoch", "2", "--warmup-steps", "1", "--batch-size", "2",
                "--validation-slots", "2", "--validation-sinr", "20", "--channels", "TDL-C",
                "--dmrs-symbols", "1", "--batch-norm-slots", "4"]
    architecture = {k: v for k, v in dataclasses.replace(TINY, equalized_input=True).to_dict().items()
                    if k not in ("num_rx_ant", "num_bits_per_symbol", "num_layers")}
    (tmp_path / "eq.json").write_text(json.dumps(architecture))
    ckpt, student = tmp_path / "ck", tmp_path / "student"
    main(["train", *scenario, *tiny_run, "--model-config", str(tmp_path / "eq.json"), "--out", str(ckpt)])
    assert json.loads((ckpt / "model.json").read_text())["deeprx"]["num_layers"] == 2
    main(["distill", *scenario, *tiny_run, "--teacher", str(ckpt), "--student-preset", "x0.03125",
          "--out", str(student)])
    meta = json.loads((student / "model.json").read_text())["deeprx"]
    assert meta["num_layers"] == 2 and meta["equalized_input"] and meta["conv_in_filters"] == 2
    main(["export", "--checkpoint", str(student), "--format", "int8", "--out", str(tmp_path / "s.tflite")])
    main(["simulate", *scenario, "--batch-size", "2", "--max-mc-iter", "1", "--sinr", "20",
          "--receiver", "lmmse", "--receiver", "perfect-csi", "--receiver", f"deeprx:{ckpt}",
          "--receiver", f"tflite:{tmp_path / 's.tflite'}", "--out", str(tmp_path / "sim")])
    report = json.loads((tmp_path / "sim" / "results.json").read_text())
    assert len(report["receivers"]) == 4


def test_single_layer_checkpoint_refused_on_a_two_layer_link_cli(tmp_path, capsys):
    """The shipped (one-layer) model on a two-layer scenario: one line, exit 2, nothing written."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--num-prb", "1", "--num-tx-ant", "2", "--num-layers", "2", "--receiver", "lmmse",
              "--receiver", "deeprx", "--out", str(tmp_path / "sim")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "receives 1 layer(s), the link sends 2" in err
    assert not (tmp_path / "sim").exists()
