"""Batch-norm statistics per DMRS count: estimated, saved with a checkpoint, served per link."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from deeprx_tf import DeepRxConfig, DeepRxReceiver, build_deeprx, load_checkpoint, save_checkpoint
from deeprx_tf.batch_norm import BatchNormStatistics, ModelPerDmrsCount, batch_norm_layers, statistics_features
from deeprx_tf.folders import BATCH_NORM_STATISTICS
from link_sim import LinkSimulator
from link_sim.errors import InputError

TINY = DeepRxConfig().scaled(0.0625)


@pytest.fixture(scope="module")
def slots(tiny_config):
    return statistics_features(tiny_config, (1, 2), num_slots=8, seed=5, channel_models=("TDL-C",),
                               batch_size=4)


@pytest.fixture(scope="module")
def checkpoint(tiny_config, slots, tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = build_deeprx(TINY)
    stats = BatchNormStatistics.estimate(model, slots, info={"seed": 5})
    return save_checkpoint(tmp_path_factory.mktemp("bn") / "ck", model, TINY, tiny_config,
                           batch_norm_statistics=stats)


def test_estimate_records_each_inputs_statistics_and_leaves_the_model(slots):
    keras.utils.set_random_seed(1)
    model = build_deeprx(TINY)
    before = [w.numpy().copy() for w in model.weights]
    stats = BatchNormStatistics.estimate(model, slots)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights))  # stats included
    assert stats.dmrs_symbols == (1, 2) and stats.info["slots_per_dmrs_count"] == {1: 8, 2: 8}
    first = batch_norm_layers(model)[0]
    for dmrs in (1, 2):
        seen = keras.Model(model.input, first.input)(slots[dmrs]).numpy()  # what the first one normalizes
        mean, variance = stats.by_dmrs[dmrs][first.name]
        np.testing.assert_allclose(mean, seen.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(variance, seen.var(axis=(0, 1, 2), ddof=1), rtol=1e-4, atol=1e-5)  # as Keras
    # a deeper layer's input depends on the earlier ones normalizing with the batch's statistics
    assert not np.allclose(stats.by_dmrs[1]["head/bn"][0], stats.by_dmrs[2]["head/bn"][0])


def test_checkpoint_serves_each_dmrs_counts_statistics(checkpoint, slots):
    loaded = load_checkpoint(checkpoint)
    assert loaded.card["batch_norm_statistics"]["dmrs_symbols"] == [1, 2]
    assert loaded.card["batch_norm_statistics"]["seed"] == 5
    saved = {layer.name: layer.moving_mean.numpy() for layer in batch_norm_layers(loaded.model)}
    for dmrs in (1, 2):
        model = loaded.model_for(dmrs)
        assert model is not loaded.model
        for layer in batch_norm_layers(model):
            np.testing.assert_array_equal(layer.moving_mean.numpy(),
                                          loaded.batch_norm_statistics.by_dmrs[dmrs][layer.name][0])
            np.testing.assert_array_equal(layer.moving_variance.numpy(),
                                          loaded.batch_norm_statistics.by_dmrs[dmrs][layer.name][1])
        assert all(np.array_equal(a.numpy(), b.numpy())
                   for a, b in zip(model.trainable_weights, loaded.model.trainable_weights))
    # the model as saved keeps its moving statistics
    assert all(np.array_equal(saved[layer.name], layer.moving_mean.numpy())
               for layer in batch_norm_layers(loaded.model))
    logits = [loaded.model_for(d)(slots[1], training=False).numpy() for d in (1, 2)]
    assert not np.allclose(logits[0], logits[1])


def test_checkpoint_without_statistics_serves_its_model(checkpoint, tmp_path):
    loaded = load_checkpoint(checkpoint)
    plain = save_checkpoint(tmp_path / "plain", loaded.model, loaded.config, loaded.link_config, loaded.card)
    assert not (plain / BATCH_NORM_STATISTICS).exists()  # nor the card's record of them
    again = load_checkpoint(plain)
    assert again.batch_norm_statistics is None and "batch_norm_statistics" not in again.card
    assert again.model_for(1) is again.model


def test_statistics_that_do_not_fit_are_refused(checkpoint, tmp_path):
    loaded = load_checkpoint(checkpoint)
    other = DeepRxConfig().scaled(0.125)
    wrong = save_checkpoint(tmp_path / "wrong", build_deeprx(other), other, loaded.link_config,
                            batch_norm_statistics=loaded.batch_norm_statistics)
    with pytest.raises(InputError, match="do not fit"):
        load_checkpoint(wrong)
    (tmp_path / "wrong" / BATCH_NORM_STATISTICS).write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="corrupt"):
        load_checkpoint(wrong)
    with pytest.raises(InputError, match="no batch-norm statistics for 3"):
        loaded.batch_norm_statistics.assign(loaded.model_for(1), 3)


@pytest.mark.parametrize("dmrs", [1, 2])
def test_receiver_uses_the_links_dmrs_count(checkpoint, tiny_config, dmrs):
    loaded = load_checkpoint(checkpoint)
    sim = LinkSimulator(tiny_config.replace(num_dmrs_symbols=dmrs), receiver=lambda tx: DeepRxReceiver(tx, loaded))
    batch = sim.transmit(2, 20.0)
    layout = sim.receiver.layout
    features = layout.features(batch.y, batch.no)
    expected = layout.grid_to_llr(loaded.model_for(dmrs)(features, training=False))
    np.testing.assert_allclose(sim.receiver.compute_llr(batch.y, batch.no).numpy(), expected.numpy(), atol=1e-5)
    as_saved = layout.grid_to_llr(loaded.model(features, training=False))
    assert not np.allclose(as_saved.numpy(), expected.numpy(), atol=1e-3)


def test_model_per_dmrs_count_receives_each_slot_with_its_counts_statistics(checkpoint, slots):
    loaded = load_checkpoint(checkpoint)
    per_slot = loaded.model_for(None)
    assert per_slot.dmrs_symbols == (1, 2) and not per_slot.trainable_weights
    own = {d: loaded.model_for(d)(slots[d], training=False).numpy() for d in (1, 2)}
    np.testing.assert_array_equal(per_slot.dmrs_count_of(slots[2]).numpy(), 2)
    # batches of one count (training's), in eager and traced calls, and whatever `training` says
    traced = tf.function(lambda x: per_slot(x, training=True))
    for d in (1, 2):
        np.testing.assert_allclose(per_slot(slots[d]).numpy(), own[d], atol=1e-6)
        np.testing.assert_allclose(traced(slots[d]).numpy(), own[d], atol=1e-6)
    # a mixed batch: each slot from its own count's model
    mixed = np.concatenate([slots[1][:3], slots[2][:2], slots[1][3:5]])
    expected = np.concatenate([own[1][:3], own[2][:2], own[1][3:5]])
    np.testing.assert_allclose(traced(mixed).numpy(), expected, atol=1e-5)
    # under XLA (`deeprx train --xla`), and the input gradient a Sobolev KD term takes: its count's model's
    np.testing.assert_allclose(tf.function(per_slot, jit_compile=True)(mixed).numpy(), expected, atol=1e-5)
    x = tf.constant(slots[2][:2])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        sums = [tf.reduce_sum(per_slot(x)), tf.reduce_sum(loaded.model_for(2)(x, training=False))]
    np.testing.assert_allclose(*(tape.gradient(y, x).numpy() for y in sums), atol=1e-5)
    # a count without statistics is refused
    only_two = ModelPerDmrsCount({2: loaded.model_for(2)})
    with pytest.raises(tf.errors.InvalidArgumentError, match="no batch-norm statistics"):
        only_two(slots[1])
    # a checkpoint without statistics serves its model
    assert loaded._replace(batch_norm_statistics=None).model_for(None) is loaded.model


def test_a_run_on_one_dmrs_count_starts_from_that_counts_statistics(checkpoint):
    from deeprx_tf.train_config import TrainConfig
    from deeprx_tf.training import initial_weights

    loaded = load_checkpoint(checkpoint)

    def same(a, b):
        return all(np.array_equal(x, y) for x, y in zip(a, b))

    for dmrs in (1, 2):
        assert same(initial_weights(loaded, TrainConfig(dmrs_symbols=(dmrs,))), loaded.model_for(dmrs).get_weights())
    assert same(initial_weights(loaded, TrainConfig()), loaded.model.get_weights())
    assert not same(loaded.model_for(1).get_weights(), loaded.model.get_weights())


def test_a_kd_teacher_receives_each_batch_with_its_dmrs_counts_statistics(checkpoint, tiny_config):
    from deeprx_tf.dataset import training_dataset
    from deeprx_tf.losses import MaskedBitErrorRate
    from distill import DeepRxDistiller

    loaded = load_checkpoint(checkpoint)
    keras.utils.set_random_seed(2)
    student = build_deeprx(TINY)
    data = {d: next(iter(training_dataset(tiny_config, 4, seed=d, channel_models=("TDL-C",), dmrs_symbols=(d,))))
            for d in (1, 2)}

    def distillation_loss(teacher, dmrs):
        distiller = DeepRxDistiller(student, teacher)
        distiller.compile(optimizer="sgd", metrics=[MaskedBitErrorRate()])
        return distiller.evaluate(*data[dmrs], verbose=0, return_dict=True)["distillation_loss"]

    for dmrs in (1, 2):
        per_slot = distillation_loss(loaded.model_for(None), dmrs)
        assert per_slot == pytest.approx(distillation_loss(loaded.model_for(dmrs), dmrs), rel=1e-5)
        assert per_slot != pytest.approx(distillation_loss(loaded.model_for(3 - dmrs), dmrs), rel=1e-3)
    # and it trains (Keras' traced train step, both counts in turn)
    distiller = DeepRxDistiller(student, loaded.model_for(None))
    distiller.compile(optimizer="sgd", metrics=[MaskedBitErrorRate()])
    history = distiller.fit(tf.data.Dataset.from_tensors(data[1]).concatenate(tf.data.Dataset.from_tensors(data[2])),
                            epochs=1, verbose=0)
    assert np.isfinite(history.history["distillation_loss"][0])
