"""Training options beyond the bits: LAMB, privileged targets (true channel, genie LLRs), SINR sampling."""

import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from deeprx_tf.checkpoint import load_checkpoint
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.dataset import LinkBatchMaker, draw_sinr, training_dataset
from deeprx_tf.model import build_deeprx
from deeprx_tf.optimizers import Lamb
from deeprx_tf.privileged import PrivilegedTrainee, channel_grid
from deeprx_tf.train_config import TrainConfig
from deeprx_tf.training import train_deeprx
from link_sim import LinkSimulator

TINY = DeepRxConfig().scaled(0.0625)


def lamb_reference(w, grads, lr, beta_1=0.9, beta_2=0.999, eps=1e-6, wd=0.0):
    """LAMB (You et al., ICLR 2020, Algorithm 2) in numpy, one variable."""
    m, v, w = np.zeros_like(w), np.zeros_like(w), w.copy()
    for t, g in enumerate(grads, 1):
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        r = (m / (1 - beta_1 ** t)) / (np.sqrt(v / (1 - beta_2 ** t)) + eps) + wd * w
        w_norm, r_norm = np.linalg.norm(w), np.linalg.norm(r)
        trust = w_norm / r_norm if w_norm > 0 and r_norm > 0 else 1.0
        w = w - lr * trust * r
    return w


@pytest.mark.parametrize("wd", [0.0, 1e-2])
def test_lamb_matches_a_numpy_reference(wd):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 4)).astype(np.float32)
    grads = [rng.normal(size=(3, 4)).astype(np.float32) for _ in range(5)]
    variable = tf.Variable(w0)
    zero = tf.Variable(np.zeros(3, np.float32))  # ||w|| = 0: trust ratio 1, a plain Adam step
    optimizer = Lamb(0.05, lamb_weight_decay=wd)
    for g in grads:
        optimizer.apply_gradients([(tf.constant(g), variable), (tf.constant(g[:, 0]), zero)])
    np.testing.assert_allclose(variable.numpy(), lamb_reference(w0, grads, 0.05, wd=wd), rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(zero.numpy(), lamb_reference(np.zeros(3, np.float32), [g[:, 0] for g in grads],
                                                            0.05, wd=wd), rtol=2e-5, atol=2e-6)


def test_sinr_floor_sampling_keeps_the_rest_of_the_stream():
    uniform = draw_sinr(np.random.default_rng(1), 10_000, (0.0, 40.0))
    rng = np.random.default_rng(1)
    floored = draw_sinr(rng, 10_000, (0.0, 40.0), 0.5, (25.0, 40.0), np.random.default_rng(2))
    # the main generator advanced exactly as without floor sampling
    reference = np.random.default_rng(1)
    reference.uniform(0.0, 40.0, size=10_000)
    assert rng.integers(1 << 30) == reference.integers(1 << 30)
    moved = floored != uniform
    assert 0.45 < moved.mean() < 0.55
    assert floored[moved].min() >= 25.0 and floored.max() <= 40.0
    # a moved slot is its uniform draw mapped into the floor range
    np.testing.assert_allclose(floored[moved], 25.0 + uniform[moved] / 40.0 * 15.0, rtol=1e-5)
    assert (draw_sinr(np.random.default_rng(1), 100, (0.0, 20.0), 1.0, (25.0, 40.0)) ==
            draw_sinr(np.random.default_rng(1), 100, (0.0, 20.0))).all()  # no floor range inside: unchanged


def test_privileged_targets_are_the_links_own(tiny_config):
    plain = LinkBatchMaker(tiny_config)
    maker = LinkBatchMaker(tiny_config, privileged=("genie_llr", "channel"))
    from sionna.phy import config as sionna_config

    sionna_config.seed = 3
    features, target = plain(4, 30.0)
    sionna_config.seed = 3
    features_p, targets = maker(4, 30.0)
    # the same slots with and without the privileged targets
    np.testing.assert_array_equal(features.numpy(), features_p.numpy())
    np.testing.assert_array_equal(target.numpy(), targets["bits"].numpy())
    labels, mask = target[..., :-1].numpy(), target[..., -1].numpy()
    genie = targets["genie_llr"].numpy()
    assert genie.shape == labels.shape
    # at 30 dB the perfect-CSI receiver decides nearly every data bit right, off the data REs it is 0
    data = mask[..., None].repeat(labels.shape[-1], -1) > 0
    assert ((genie[data] > 0) == (labels[data] > 0.5)).mean() > 0.98
    assert not genie[~data].any()
    # the true channel: real parts then imaginary parts of the (rx, tx) pairs, on every RE
    sionna_config.seed = 3
    batch = maker.simulator.transmit(4, 30.0)
    h = batch.h.numpy()[:, 0, :, 0]  # [batch, rx, tx, S, F]
    channel = targets["channel"].numpy()
    assert channel.shape == (4, 14, 12, 2 * 2 * 1)
    np.testing.assert_allclose(channel[..., 1], h[:, 1, 0].real, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(channel[..., 3], h[:, 1, 0].imag, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(channel_grid(batch.h).numpy(), channel, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown privileged signal"):
        LinkBatchMaker(tiny_config, privileged=("oracle",))


def test_the_channel_head_learns_and_is_not_saved(tiny_config, tmp_path):
    keras.utils.set_random_seed(0)
    model = build_deeprx(TINY)
    trainee = PrivilegedTrainee(model, num_channel_outputs=4, channel_loss_weight=1.0, genie_loss_weight=0.5,
                                decay_steps=1000)
    trainee.compile(keras.optimizers.Adam(3e-3))
    data = training_dataset(tiny_config, 8, seed=0, privileged=trainee.signals, channel_models=("TDL-C",),
                            dmrs_symbols=(1,))
    batches = list(data.take(4))
    replay = tf.data.Dataset.from_tensors(batches[0]).repeat(25)
    before = trainee.evaluate(tf.data.Dataset.from_tensors(batches[0]), verbose=0, return_dict=True)
    history = trainee.fit(replay, verbose=0).history
    after = trainee.evaluate(tf.data.Dataset.from_tensors(batches[0]), verbose=0, return_dict=True)
    assert set(history) >= {"loss", "bits_loss", "genie_loss", "channel_loss"}
    assert after["channel_loss"] < 0.5 * before["channel_loss"]
    assert after["bits_loss"] < before["bits_loss"]
    # the channel weight decays linearly with the optimizer's steps
    assert float(trainee.channel_weight()) == pytest.approx(1.0 - 25 / 1000)
    # the DeepRx model alone is what the trainee calls and what is saved: no auxiliary layer
    assert not [layer for layer in model.layers if layer.name.startswith("aux/")]
    features = batches[1][0]
    np.testing.assert_array_equal(trainee(features).numpy(), model(features).numpy())


def test_train_deeprx_with_the_signals_records_them(tiny_config, tmp_path):
    options = {"channel_loss_weight": 0.1, "genie_loss_weight": 1.0, "sinr_floor_fraction": 0.5,
               "optimizer": "lamb", "learning_rate": 1e-2, "weight_decay": 1e-4}
    config = TrainConfig(steps=2, batch_size=4, steps_per_epoch=2, warmup_steps=1, validation_slots=4,
                         validation_sinr_db=(20.0,), channel_models=("TDL-C",), dmrs_symbols=(1,), batch_norm_slots=8,
                         **options)
    card = train_deeprx(TINY, tiny_config, config, tmp_path / "run", verbose=0)
    for key, value in options.items():
        assert card["train"][key] == value
    saved = load_checkpoint(tmp_path / "run")
    assert [w.shape for w in saved.model.weights] == [w.shape for w in build_deeprx(TINY).weights]
    assert json.loads((tmp_path / "run" / "model.json").read_text())["card"]["complete"]


@pytest.mark.parametrize("options, message", [
    ({"optimizer": "sgd"}, "unknown optimizer"),
    ({"genie_loss_weight": -1.0}, "genie_loss_weight"),
    ({"sinr_floor_fraction": 1.5}, "sinr_floor_fraction"),
    ({"sinr_floor_db": (40.0, 25.0)}, "sinr_floor_db"),
    ({"channel_loss_weight": 0.1, "qat": True}, "later stage"),
])
def test_bad_signal_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**options)
