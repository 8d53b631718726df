"""DeepRx model, features, receiver, data and training on 1-PRB grids with tiny models."""

import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from sionna.phy import config as sionna_config
from sionna.phy.mapping import Demapper

from deeprx_tf.checkpoint import TrainingDomain, check_fits_scenario, load_checkpoint, save_checkpoint
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.dataset import LinkBatchMaker, training_dataset, validation_sets
from deeprx_tf.features import GridLayout
from deeprx_tf.history import read_learning_curve, training_pace
from deeprx_tf.machine import cpu_description
from deeprx_tf import layers
from deeprx_tf.layers import GroupedDepthwiseConv2D, dilated_conv_kernel, set_dilated_conv_kernel, with_keras_layers
from deeprx_tf.model import build_deeprx, config_of
from deeprx_tf.shipped import shipped_checkpoint
from deeprx_tf.receiver import DeepRxReceiver
from deeprx_tf.losses import MaskedBitErrorRate, masked_bce
from deeprx_tf.train_config import TrainConfig
from deeprx_tf.training import ValidationGeometricMeanBER, WarmupLinearDecay, train_deeprx
from link_sim import LinkConfig, LinkSimulator, LinkTransmitter
from link_sim.transmitter import make_pusch_config
from link_sim.sweep import run_sweep

TINY = DeepRxConfig().scaled(0.0625)


def test_paper_preset_parameters_and_shape():
    config = DeepRxConfig.preset("paper")
    model = build_deeprx(config)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 1_232_776  # 2 RX antennas, 8-bit head (Honkala et al., IEEE TWC 2021)
    # the docs' 1,239,048 parameters: the batch normalizations' moving statistics besides
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == 1_239_048 - 1_232_776
    assert DeepRxConfig.preset("paper", num_bits_per_symbol=4).num_bits_per_symbol == 4
    four_bit = build_deeprx(DeepRxConfig.preset("paper", num_bits_per_symbol=4))
    assert sum(int(np.prod(w.shape)) for w in four_bit.trainable_weights) == 1_232_516
    assert model.output_shape == (None, None, None, 8)
    assert model.input_shape == (None, None, None, 10)
    assert config.flops_per_slot(312) == pytest.approx(10.6e9, rel=0.01)
    # the dilation table, with explicit axes
    layer = model.get_layer("block_6/depthwise_1")
    assert layer.dilation_rate == (3, 6)
    swapped = build_deeprx(DeepRxConfig(dilation_order="frequency_time"))
    assert swapped.get_layer("block_6/depthwise_1").dilation_rate == (6, 3)
    assert {"block_1/projection", "block_3/projection"} & {l.name for l in model.layers} == {"block_3/projection"}


def test_macs_per_re_counts_every_conv_weight():
    config = DeepRxConfig.preset("x0.5")
    model = build_deeprx(config)
    conv_weights = sum(int(np.prod(l.kernel.shape if hasattr(l, "kernel") else l.depthwise_kernel.shape))
                       for l in model.layers
                       if isinstance(l, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)))
    assert config.macs_per_re() == conv_weights


def test_for_flops_hits_target():
    target = 10.6e9 * 11 / 30  # the paper's student/teacher ratio applied to the paper model
    config = DeepRxConfig.for_flops(target)
    assert config.flops_per_slot(312) == pytest.approx(target, rel=0.05)
    assert config.size_vs_paper() == pytest.approx(11 / 30, rel=0.05)


@pytest.fixture
def kernel_policy(monkeypatch):
    """The dilated-convolution form as a test leaves it: nothing forced, the automatic choice re-made."""
    monkeypatch.delenv(layers.DILATED_CONV_ENV, raising=False)
    monkeypatch.setattr(layers, "_forced", None)
    layers._auto_kernel.cache_clear()
    yield layers
    layers._auto_kernel.cache_clear()


#: Forms that run in this process: the grouped one needs oneDNN on the CPU (or a GPU).
RUNNABLE_FORMS = ["depthwise"] + (["grouped"] if layers.onednn_enabled() or tf.config.list_logical_devices("GPU")
                                  else [])


@pytest.mark.parametrize("form", RUNNABLE_FORMS)
@pytest.mark.parametrize("dilation", [(1, 1), (2, 3), (3, 6)])
def test_grouped_depthwise_is_keras_depthwise(dilation, form, kernel_policy):
    # same kernel, same function and gradients as Keras' own (SpaceToBatchND) layer, in either form
    set_dilated_conv_kernel(form)
    keras.utils.set_random_seed(3)
    x = tf.random.normal([2, 14, 12, 5])
    grouped = GroupedDepthwiseConv2D(3, padding="same", depth_multiplier=2, dilation_rate=dilation)
    reference = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, dilation_rate=dilation)
    grouped.build(x.shape)
    reference.build(x.shape)
    reference.set_weights([w + 0.1 * i for i, w in enumerate(grouped.get_weights())])
    grouped.set_weights(reference.get_weights())
    outputs, gradients = [], []
    for layer in (grouped, reference):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(tf.sin(y) * tf.range(10, dtype=tf.float32))
        outputs.append(y.numpy())
        gradients.append([g.numpy() for g in tape.gradient(loss, [x, *layer.trainable_weights])])
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-5)
    for a, b in zip(*gradients):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("device, onednn, flags, expected", [
    ("GPU", False, "avx2", "grouped"),
    ("CPU", True, "avx2 avx512f avx512_vnni", "grouped"),  # oneDNN on by TensorFlow's default there
    ("CPU", True, "avx2 amx_tile", "grouped"),
    ("CPU", True, "avx2 avx512f", "depthwise"),  # oneDNN on by hand: its grouped kernel is the slow one
    ("CPU", False, "avx2 avx512f avx512_vnni", "depthwise"),  # no grouped kernel in a graph at all
])
def test_the_kernel_rule(device, onednn, flags, expected, kernel_policy, monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: a CPU\nflags\t\t: fpu sse2 {flags}\n")
    monkeypatch.setattr(layers, "CPUINFO", str(cpuinfo))
    monkeypatch.setattr(layers, "onednn_enabled", lambda: onednn)
    assert dilated_conv_kernel(device) == expected
    other = "depthwise" if expected == "grouped" else "grouped"
    monkeypatch.setenv(layers.DILATED_CONV_ENV, other)  # the environment forces a form ...
    assert dilated_conv_kernel(device) == other
    set_dilated_conv_kernel(expected)  # ... and the function overrides the environment
    assert dilated_conv_kernel(device) == expected
    set_dilated_conv_kernel("auto")
    assert dilated_conv_kernel(device) == expected
    with pytest.raises(ValueError, match="choose one of auto, grouped, depthwise"):
        set_dilated_conv_kernel("fast")
    monkeypatch.setattr(layers, "_forced", None)
    monkeypatch.setenv(layers.DILATED_CONV_ENV, "fast")
    with pytest.raises(ValueError, match="DEEPRX_DILATED_CONV is 'fast'"):
        dilated_conv_kernel(device)


def test_cpu_instructions_are_read_from_cpuinfo(tmp_path):
    with_vnni, without = tmp_path / "a", tmp_path / "b"
    with_vnni.write_text("model name\t: x\nflags\t\t: avx2 avx512f avx512_vnni\n")
    without.write_text("model name\t: x\nflags\t\t: avx2 fma\n")
    assert layers.cpu_has_onednn_default_instructions(str(with_vnni))
    assert not layers.cpu_has_onednn_default_instructions(str(without))
    assert not layers.cpu_has_onednn_default_instructions(str(tmp_path / "missing"))
    assert cpu_description(with_vnni) == {"cpu_model": "x", "cpu_flags": ["avx2", "avx512f", "avx512_vnni"]}
    assert cpu_description(without) == {"cpu_model": "x", "cpu_flags": ["avx2"]}
    assert cpu_description(tmp_path / "missing")["cpu_flags"] == []


def test_the_traced_graph_uses_the_chosen_form_and_runs(kernel_policy):
    # the regression of an AVX2 machine: in a graph, the grouped form has no CPU kernel without oneDNN
    model = build_deeprx(TINY)
    features = tf.random.normal([2, 14, 12, TINY.num_input_channels])
    for form in RUNNABLE_FORMS:
        set_dilated_conv_kernel(form)
        fn = tf.function(lambda f: model(f, training=False))
        ops = {op.type for op in fn.get_concrete_function(features).graph.get_operations()}
        assert ("SpaceToBatchND" in ops) == (form == "depthwise"), ops
        np.testing.assert_allclose(fn(features).numpy(), model(features, training=False).numpy(),
                                   rtol=1e-4, atol=1e-4)
    set_dilated_conv_kernel("auto")
    assert dilated_conv_kernel() in RUNNABLE_FORMS  # the automatic choice runs here
    assert tf.function(lambda f: model(f, training=False))(features).shape == (2, 14, 12, 8)


def test_a_model_carries_its_configuration(tiny_config):
    shipped = load_checkpoint("default")
    assert config_of(shipped.model) == shipped.config and shipped.config.equalized_input
    assert config_of(build_deeprx(TINY)) == TINY
    assert config_of(keras.Sequential([keras.layers.Dense(1)])) is None
    # the shipped model takes the equalized input: the Keras model alone is enough now
    sim = LinkSimulator(tiny_config, "lmmse")
    batch = sim.transmit(2, 30.0)
    for precision in (None, "double"):
        rx = DeepRxReceiver(sim.transmitter, shipped.model_for(tiny_config.num_dmrs_symbols), precision=precision)
        llr = rx.compute_llr(batch.y, batch.no)
        assert llr.shape == batch.c.shape
        reference = DeepRxReceiver(sim.transmitter, shipped).compute_llr(batch.y, batch.no)
        np.testing.assert_allclose(llr.numpy(), reference.numpy(), rtol=1e-5, atol=1e-4)
    # a foreign model of the published width is still refused in one line where it does not fit
    foreign = keras.Sequential([keras.Input((None, None, 13)), keras.layers.Conv2D(8, 1)])
    with pytest.raises(ValueError, match="takes 13 input channels") as exc:
        DeepRxReceiver(sim.transmitter, foreign)
    assert "\n" not in str(exc.value)


def test_shipped_checkpoint_same_logits_in_both_formulations():
    ckpt = load_checkpoint(shipped_checkpoint())
    assert any(isinstance(l, GroupedDepthwiseConv2D) and l.dilation_rate != (1, 1) for l in ckpt.model.layers)
    keras_model = with_keras_layers(ckpt.model)
    assert not any(isinstance(l, GroupedDepthwiseConv2D) for l in keras_model.layers)
    channels = ckpt.config.num_input_channels
    features = np.random.default_rng(0).normal(size=(2, 14, 48, channels)).astype(np.float32)
    a, b = ckpt.model.predict(features, verbose=0), keras_model.predict(features, verbose=0)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-4 * np.abs(b).max())


def test_optional_inputs_noise_and_interpolated_ls(tiny_config):
    static = tiny_config.replace(speed_mps=(0.0, 0.0))
    config = DeepRxConfig(noise_input=True, ls_interpolation="lin").scaled(0.0625)
    assert config.num_input_channels == 10 + 1 + 4
    assert DeepRxConfig.from_dict(TINY.to_dict()) == TINY and TINY.num_input_channels == 10
    with pytest.raises(ValueError, match="ls_interpolation"):
        DeepRxConfig(ls_interpolation="cubic")
    sionna_config.seed = 4
    simulator = LinkSimulator(static, "lmmse")
    batch = simulator.transmit(3, tf.constant([10.0, 20.0, 30.0]))
    layout = GridLayout(simulator.transmitter, **config.feature_options())
    f = layout.features(batch.y, batch.no).numpy()
    assert f.shape == (3, 14, 12, 15)
    np.testing.assert_allclose(f[:, 0, 0, 10], [-1.0, -2.0, -3.0], rtol=1e-5)
    assert np.ptp(f[..., 10], axis=(1, 2)).max() == 0
    # at 30 dB and at rest the interpolated LS estimate is close to the true channel everywhere
    # h [batch, 1, num_rx_ant, 1, 1, S, F] -> [batch, S, F, num_rx_ant]
    h = np.transpose(batch.h.numpy()[:, 0, :, 0, 0], [0, 2, 3, 1])
    h_hat = f[..., 11:13] + 1j * f[..., 13:15]
    error = np.mean(np.abs(h_hat[2] - h[2]) ** 2) / np.mean(np.abs(h[2]) ** 2)
    assert error < 0.05
    assert np.mean(np.abs(h_hat[2] - h[1]) ** 2) / np.mean(np.abs(h[1]) ** 2) > 10 * error
    with pytest.raises(ValueError, match="pass no"):
        layout.features(batch.y)
    # the LS+LMMSE equalizer's estimates sit on their data REs: at 30 dB and at rest, close to x
    equalized = GridLayout(simulator.transmitter, equalized_input=True)
    e = equalized.features(batch.y, batch.no).numpy()
    assert e.shape == (3, 14, 12, 13)
    x = batch.x.numpy()[:, 0, 0]  # [batch, S, F]
    mask = equalized.data_mask.numpy().astype(bool)
    x_hat = e[..., 10] + 1j * e[..., 11]
    assert np.all(x_hat[:, ~mask] == 0) and np.all(e[:, ~mask, 12] == 0)
    assert np.mean(np.abs(x_hat[2][mask] - x[2][mask]) ** 2) < 0.05
    assert np.mean(np.abs(x_hat[0][mask] - x[0][mask]) ** 2) > np.mean(np.abs(x_hat[2][mask] - x[2][mask]) ** 2)
    assert e[2, mask, 12].mean() < e[0, mask, 12].mean() < 0  # log10 of the effective noise variance
    # the receiver takes the options the model carries (or config=); a model that does not carry
    # them (a clone) is refused in one line
    model = build_deeprx(config)
    llr = DeepRxReceiver(simulator.transmitter, model, config=config).compute_llr(batch.y, batch.no)
    assert llr.shape == (3, 1, layout.num_data_re * 8)
    np.testing.assert_array_equal(DeepRxReceiver(simulator.transmitter, model).compute_llr(batch.y, batch.no),
                                  llr)
    with pytest.raises(ValueError, match="input channels"):
        DeepRxReceiver(simulator.transmitter, keras.models.clone_model(model)).compute_llr(batch.y, batch.no)


def test_one_model_serves_two_grid_sizes():
    model = build_deeprx(TINY)
    for num_sc in (12, 48):
        out = model(np.zeros((2, 14, num_sc, 10), np.float32))
        assert out.shape == (2, 14, num_sc, 8)


def test_ls_feature_is_y_times_conj_pilot(tiny_config):
    tx = LinkTransmitter(tiny_config)
    layout = GridLayout(tx)
    # independent pilot grid: the pattern's pilots at its mask positions, row-major
    mask = np.asarray(tx.pilot_pattern.mask)[0, 0].astype(bool)
    xp = np.zeros(mask.shape, np.complex64)
    xp.reshape(-1)[np.flatnonzero(mask.reshape(-1))] = np.asarray(tx.pilot_pattern.pilots)[0, 0]
    np.testing.assert_allclose(layout.pilot_grid.numpy()[..., 0], xp, atol=1e-6)
    sionna_config.seed = 1
    batch = LinkSimulator(tiny_config, "lmmse").transmit(3, 20.0)
    f = layout.features(batch.y).numpy()
    assert f.shape == (3, 14, 12, 10)
    y = np.transpose(batch.y.numpy()[:, 0], (0, 2, 3, 1))  # [batch, S, F, Nr]
    ls = y * np.conj(xp)[None, :, :, None]
    np.testing.assert_allclose(f[..., 6:8] + 1j * f[..., 8:10], ls, atol=1e-5)
    assert np.all(f[:, ~mask][..., 6:10] == 0)  # zero off the pilots
    np.testing.assert_allclose(f[..., 0:2] + 1j * f[..., 2:4], y, atol=1e-6)


def test_labels_line_up_with_coded_bits(tiny_config):
    """A 'DeepRx' that demaps Y exactly gives BER 0 through DeepRxReceiver (AWGN, no noise to speak of)."""
    config = tiny_config.replace(channel_model="AWGN")
    demapper = Demapper("maxlog", "qam", 8)

    def oracle(features):  # AWGN SIMO: h = 1, so Y on antenna 0 is the symbol
        y = tf.complex(features[..., 0], features[..., 2])
        return tf.reshape(demapper(y, tf.constant(1e-4)), [-1, 14, 12, 8])

    inputs = keras.Input((14, 12, 10))  # Sionna's Demapper wants a static last axis
    model = keras.Model(inputs, keras.layers.Lambda(oracle)(inputs))
    sim = LinkSimulator(config, lambda tx: DeepRxReceiver(tx, model))
    sionna_config.seed = 2
    batch, b_hat, llr = sim.run(4, 60.0)
    np.testing.assert_array_equal((llr.numpy() > 0).astype(np.float32), batch.c.numpy())
    np.testing.assert_array_equal(b_hat.numpy(), batch.b.numpy())
    # and the label grid puts the same bits back where they came from
    layout = sim.receiver.layout
    np.testing.assert_array_equal(layout.grid_to_llr(layout.bits_to_grid(batch.c)).numpy(), batch.c.numpy())


def test_masked_loss_and_ber_ignore_non_data_res():
    labels = np.array([[[[1.0, 0.0]], [[1.0, 1.0]]]], np.float32)  # [1, 2, 1, 2]
    mask = np.array([[[[1.0]], [[0.0]]]], np.float32)
    target = np.concatenate([labels, mask], -1)
    logits = np.array([[[[2.0, -1.0]], [[-5.0, -5.0]]]], np.float32)
    expected = np.mean([np.log1p(np.exp(-2.0)), np.log1p(np.exp(-1.0))])
    assert float(masked_bce(target, logits)[0]) == pytest.approx(expected, rel=1e-5)
    metric = MaskedBitErrorRate()
    metric.update_state(target, logits)
    assert float(metric.result()) == 0.0  # the wrong bits sit on the masked RE


def test_schedule_warms_up_then_decays():
    s = WarmupLinearDecay(1e-3, 10, 110)
    assert float(s(0)) == 0.0 and float(s(5)) == pytest.approx(5e-4)
    assert float(s(10)) == pytest.approx(1e-3) and float(s(60)) == pytest.approx(5e-4)
    assert float(s(110)) == pytest.approx(0.0, abs=1e-9)


def test_dataset_is_reproducible_and_shaped(tiny_config):
    def first(seed):
        ds = training_dataset(tiny_config, 4, seed=seed, channel_models=("TDL-B", "CDL-C"))
        return next(iter(ds))
    (f1, t1), (f2, t2), (f3, _) = first(5), first(5), first(6)
    assert f1.shape == (4, 14, 12, 10) and t1.shape == (4, 14, 12, 9)
    np.testing.assert_array_equal(f1.numpy(), f2.numpy())
    np.testing.assert_array_equal(t1.numpy(), t2.numpy())
    assert not np.array_equal(f1.numpy(), f3.numpy())
    # a fixed prefetch depth: tf.data's autotuning, which makes the end of every fit wait, is off
    assert training_dataset(tiny_config, 4).options().autotune.enabled is False


def test_a_stream_of_epochs_starts_at_any_epoch(tiny_config):
    """With steps per epoch, the stream started at epoch 1 is the full stream without its first epoch."""
    def batches(first_epoch, count):
        ds = training_dataset(tiny_config, 2, seed=4, channel_models=("TDL-B", "CDL-C"), steps_per_epoch=2,
                              first_epoch=first_epoch, prefetch=1)
        return [features.numpy() for features, _ in ds.take(count)]
    full, resumed = batches(0, 4), batches(1, 2)
    for a, b in zip(full[2:], resumed):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(full[0], full[2])  # epochs differ


def test_tiny_model_loss_falls(tiny_config):
    keras.utils.set_random_seed(0)
    maker = LinkBatchMaker(tiny_config)
    sionna_config.seed = 0
    features, target = maker(16, 25.0)
    model = build_deeprx(TINY)
    model.compile(keras.optimizers.Adam(3e-3), loss=masked_bce)
    history = model.fit(features, target, epochs=40, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < 0.9 * history[0]


def test_checkpoint_round_trip_and_errors(tmp_path, tiny_config):
    model = build_deeprx(TINY)
    x = np.random.default_rng(0).normal(size=(2, 14, 12, 10)).astype(np.float32)
    save_checkpoint(tmp_path / "ck", model, TINY, tiny_config, {"note": "test"})
    loaded = load_checkpoint(tmp_path / "ck")
    np.testing.assert_array_equal(loaded.model(x).numpy(), model(x).numpy())
    assert loaded.config == TINY and loaded.link_config == tiny_config and loaded.card == {"note": "test"}
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nothing")
    # QAT weights of another graph (the unfolded one, as before QAT folded batch norms)
    model.save_weights(str(tmp_path / "ck" / "qat_weights.h5"), save_format="h5")
    with pytest.raises(ValueError, match="qat_weights.h5 .*delete it"):
        load_checkpoint(tmp_path / "ck")
    (tmp_path / "ck" / "weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(tmp_path / "ck")
    with pytest.raises(ValueError, match="receive antennas"):
        check_fits_scenario(TINY, tiny_config.replace(num_rx_ant=4))
    with pytest.raises(ValueError, match="bits per symbol"):
        check_fits_scenario(TINY, tiny_config.replace(mcs_index=15))


def test_deeprx_receiver_in_a_sweep(tiny_config):
    model = build_deeprx(TINY)
    sim = LinkSimulator(tiny_config, lambda tx: DeepRxReceiver(tx, model))
    res = run_sweep(sim, [10.0], batch_size=4, max_mc_iter=1, num_target_block_errors=None, seed=0)
    assert res.points[0].uncoded_bits == 4 * sim.transmitter.num_coded_bits
    with pytest.raises(ValueError, match="bits per symbol"):
        DeepRxReceiver(LinkTransmitter(tiny_config.replace(mcs_index=15)), model)


def test_receiver_follows_sionna_precision_and_refuses_what_it_cannot_receive(tiny_config):
    """precision="double" runs (float64 LLRs, the same decisions); time-domain input, a
    checkpoint for other antennas are refused in one line at construction."""
    from sionna.phy.nr import PUSCHTransmitter

    model = build_deeprx(TINY)
    pusch_config = make_pusch_config(tiny_config)
    llrs = {}
    for precision in ("single", "double"):
        tx = PUSCHTransmitter(pusch_config, precision=precision)
        sionna_config.seed = 3
        x = tx(2)[0]
        y = tf.concat([x, x], axis=2)  # two receive antennas, unit channel
        rx = DeepRxReceiver(tx, model, precision=precision)
        llrs[precision] = rx.compute_llr(y)
        assert rx(y).dtype == (tf.float64 if precision == "double" else tf.float32)
    assert llrs["double"].dtype == tf.float64
    np.testing.assert_allclose(llrs["double"].numpy(), llrs["single"].numpy(), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="post-FFT") as exc:
        DeepRxReceiver(PUSCHTransmitter(pusch_config, output_domain="time"), model)
    assert "\n" not in str(exc.value)
    # a LinkTransmitter knows the antennas: a 4-antenna link is refused before any slot
    with pytest.raises(ValueError, match="input channels, the link's 4 receive antennas"):
        DeepRxReceiver(LinkTransmitter(tiny_config.replace(num_rx_ant=4)), model)
    # a plain Sionna transmitter does not: the first call refuses it, in the same words
    rx = DeepRxReceiver(PUSCHTransmitter(pusch_config), model)
    with pytest.raises(ValueError, match="input channels, the link's 4 receive antennas"):
        rx(tf.zeros([1, 1, 4, 14, 12], tf.complex64))


def test_a_diverging_run_stops_and_a_resume_keeps_its_options(tmp_path, tiny_config):
    from deeprx_tf.training import TrainingDivergedError

    config = TrainConfig(steps=5, batch_size=4, steps_per_epoch=2, warmup_steps=0, validation_slots=4,
                         validation_sinr_db=(20.0,), channel_models=("TDL-C",), dmrs_symbols=(1,),
                         learning_rate=1e-3, batch_norm_slots=8)
    card = train_deeprx(TINY, tiny_config, config, tmp_path / "ok", verbose=0)
    # 5 steps of 2 per epoch: the third epoch is cut to one step, and validated and saved
    assert card["steps_done"] == 5 and read_learning_curve(tmp_path / "ok")["steps"] == [2, 4, 5]
    ok = load_checkpoint(tmp_path / "ok")
    good = ok.model.get_weights()
    # each checkpoint keeps the batch-norm statistics of its own weights on the run's statistics slots
    from deeprx_tf.batch_norm import BatchNormStatistics, statistics_features

    slots = statistics_features(tiny_config, (1,), 8, seed=config.seed + 2, channel_models=("TDL-C",), batch_size=4)
    again = BatchNormStatistics.estimate(ok.model, slots)
    assert ok.batch_norm_statistics.dmrs_symbols == (1,) and ok.card["batch_norm_statistics"]["seed"] == 2
    # validation receives each DMRS count with its statistics: the card's is the saved checkpoint's
    sets = validation_sets(tiny_config, (20.0,), 4, seed=config.seed + 1, dmrs_symbols=(1,), model_config=TINY,
                           by_dmrs=True)
    expected = ValidationGeometricMeanBER(sets).evaluate(ok.model, ok.batch_norm_statistics)
    assert card["validation"]["val_gmber"] == pytest.approx(expected["val_gmber"], abs=1e-9)
    assert card["validation"]["val_gmber_dmrs1"] == card["validation"]["val_gmber"]  # one DMRS count
    assert "val_gmber_dmrs1" in read_learning_curve(tmp_path / "ok")
    for name, (mean, variance) in again.by_dmrs[1].items():
        np.testing.assert_allclose(ok.batch_norm_statistics.by_dmrs[1][name][0], mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ok.batch_norm_statistics.by_dmrs[1][name][1], variance, rtol=1e-5, atol=1e-6)
    # the epoch of best validation is a checkpoint of its own
    best = load_checkpoint(tmp_path / "ok" / "best")
    assert best.card["best"] == card["best"] and card["best"]["epoch"] in (1, 2, 3)
    assert best.batch_norm_statistics.dmrs_symbols == (1,)
    shutil.copytree(tmp_path / "ok" / "best", tmp_path / "bad" / "best")  # an earlier run's best
    with pytest.raises(TrainingDivergedError, match="diverged"):
        train_deeprx(TINY, tiny_config, dataclasses.replace(config, learning_rate=1e30),
                     tmp_path / "bad", init_from=tmp_path / "ok", verbose=0)
    assert not (tmp_path / "bad" / "model.json").exists()  # nothing saved, complete or not
    assert not (tmp_path / "bad" / "best").exists()  # a run that starts anew drops an earlier run's best
    with pytest.raises(ValueError, match="finite"):
        dataclasses.replace(config, learning_rate=float("inf"))
    assert all(np.isfinite(w).all() for w in good)
    # an interrupted run resumed with other options is refused, saying what differs
    (tmp_path / "ok" / "backup").mkdir(exist_ok=True)
    meta = json.loads((tmp_path / "ok" / "model.json").read_text())
    meta["card"]["complete"] = False
    (tmp_path / "ok" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="other options .*training steps"):
        train_deeprx(TINY, tiny_config, dataclasses.replace(config, steps=7), tmp_path / "ok", verbose=0)
    with pytest.raises(ValueError, match="scenario num_prb"):
        train_deeprx(TINY, tiny_config.replace(num_prb=2), config, tmp_path / "ok", verbose=0)


INTERRUPTED_AFTER_FIRST_EPOCH = r"""
import link_sim, os, sys
import tf_keras as keras
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.training import TrainConfig, train_deeprx
from link_sim import LinkConfig
log_epoch = keras.callbacks.CSVLogger.on_epoch_end
def crash(self, epoch, logs=None):  # the process dies once epoch 0 is backed up and logged
    log_epoch(self, epoch, logs)
    os._exit(3)
keras.callbacks.CSVLogger.on_epoch_end = crash
train_deeprx(DeepRxConfig().scaled(0.0625), LinkConfig(num_prb=1),
             TrainConfig(steps=4, batch_size=2, steps_per_epoch=2, warmup_steps=0, validation_slots=4,
                         validation_sinr_db=(20.0,), channel_models=("TDL-C", "CDL-B"), dmrs_symbols=(1,),
                         batch_norm_slots=4), sys.argv[1], verbose=0)
"""


@pytest.mark.slow
def test_a_resumed_run_trains_on_the_batches_of_an_uninterrupted_one(tmp_path):
    """A run killed after its first epoch and resumed ends with the weights of one never interrupted."""
    config = TrainConfig(steps=4, batch_size=2, steps_per_epoch=2, warmup_steps=0, validation_slots=4,
                         validation_sinr_db=(20.0,), channel_models=("TDL-C", "CDL-B"), dmrs_symbols=(1,),
                         batch_norm_slots=4)
    crashed = subprocess.run([sys.executable, "-c", INTERRUPTED_AFTER_FIRST_EPOCH, str(tmp_path / "resumed")],
                             capture_output=True, text=True, timeout=600)
    assert crashed.returncode == 3, crashed.stderr[-2000:]
    card = train_deeprx(TINY, LinkConfig(num_prb=1), config, tmp_path / "resumed", verbose=0)
    assert [(run["data_seed"], run["first_epoch"]) for run in card["runs"]] == [(0, 0), (0, 1)]
    assert training_pace(tmp_path / "resumed")["slots"] == 4  # the second session's epoch only
    train_deeprx(TINY, LinkConfig(num_prb=1), config, tmp_path / "whole", verbose=0)
    resumed, whole = (load_checkpoint(tmp_path / name).model.get_weights() for name in ("resumed", "whole"))
    for a, b in zip(resumed, whole):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


MIRRORED = r"""
import link_sim, json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.training import TrainConfig, train_deeprx
from link_sim import LinkConfig
card = train_deeprx(DeepRxConfig().scaled(0.0625), LinkConfig(num_prb=1),
                    TrainConfig(steps=4, batch_size=4, steps_per_epoch=2, warmup_steps=1,
                                validation_slots=8, validation_sinr_db=(20.0,),
                                channel_models=("TDL-C",), dmrs_symbols=(1,), batch_norm_slots=8),
                    sys.argv[1], strategy="mirrored", verbose=0)
print(json.dumps({"replicas": card["num_replicas"], "loss": card["final_loss"]}))
"""


@pytest.mark.slow  # the default run's time budget; test_multiworker.py covers distributed training
def test_mirrored_training_on_two_logical_cpus(tmp_path):
    out = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path / "ck")], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and np.isfinite(result["loss"])
    assert load_checkpoint(tmp_path / "ck").card["num_replicas"] == 2


def test_checkpoint_warns_where_it_never_trained(tiny_config, tmp_path):
    card = {"train": {"channel_models": ["TDL-C"], "dmrs_symbols": [1]}}
    trained_on = tiny_config.replace(sinr_db=(10.0, 30.0))
    save_checkpoint(tmp_path, build_deeprx(TINY), TINY, trained_on, card)
    ckpt = load_checkpoint(tmp_path)
    domain = ckpt.training_domain
    assert domain.unfamiliar("TDL-C", 1, trained_on.mcs_index, [10, 20, 30]) == []
    notes = domain.unfamiliar("CDL-A", 2, 22, [5, 20, 35])
    assert [n.split(" ")[0] for n in notes] == ["channel", "2", "MCS", "SINR"]
    assert "5, 35 dB" in notes[3]
    two_dmrs = LinkTransmitter(tiny_config.replace(num_dmrs_symbols=2))
    with pytest.warns(UserWarning, match=r"2 DMRS symbol\(s\) \(trained on 1\)"):
        DeepRxReceiver(two_dmrs, ckpt)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DeepRxReceiver(LinkTransmitter(tiny_config), ckpt)  # its own scenario: silent
    # fine-tuning from another checkpoint: the domain of both stages
    both = domain.union(TrainingDomain(("CDL-B",), (2,), (22,), (0.0, 20.0)))
    assert both == TrainingDomain(("TDL-C", "CDL-B"), (1, 2), (trained_on.mcs_index, 22), (0.0, 30.0))
    assert TrainingDomain.from_card({"training_domain": both.to_dict()}, trained_on) == both
    # a hand-made checkpoint does not say where it trained: no domain, no warning
    save_checkpoint(tmp_path / "bare", build_deeprx(TINY), TINY, trained_on, {})
    assert load_checkpoint(tmp_path / "bare").training_domain is None


def test_shipped_models_load_by_name_and_a_local_folder_wins(tmp_path, monkeypatch):
    from deeprx_tf.checkpoint import read_checkpoint_config
    from deeprx_tf.shipped import resolve_checkpoint, shipped_models

    assert "default" in shipped_models()
    monkeypatch.chdir(tmp_path)
    assert resolve_checkpoint("default") == shipped_checkpoint()
    assert read_checkpoint_config("default") == read_checkpoint_config(shipped_checkpoint())
    save_checkpoint(tmp_path / "default", build_deeprx(TINY), TINY, LinkConfig(num_prb=1))
    assert read_checkpoint_config("default") == TINY  # ./default, not the shipped one
    with pytest.raises(FileNotFoundError, match="name of a shipped model: .*default"):
        read_checkpoint_config("no_such_model")
