"""Magnitude pruning with tensorflow-model-optimization."""

import numpy as np
import pytest
import tf_keras as keras

from deeprx_tf.config import DeepRxConfig
from deeprx_tf.model import build_deeprx
from deeprx_tf.pruning import PruningSchedule, prunable, pruning_callbacks, sparsity, strip_pruning
from deeprx_tf.losses import masked_bce


def test_pruning_reaches_the_asked_sparsity():
    keras.utils.set_random_seed(0)
    model = build_deeprx(DeepRxConfig().scaled(0.0625))
    assert sparsity(model)["total"] < 0.01
    rng = np.random.default_rng(0)
    features = rng.normal(size=(8, 14, 12, 10)).astype(np.float32)
    target = np.concatenate([rng.integers(0, 2, (8, 14, 12, 8)), np.ones((8, 14, 12, 1))], -1)
    pruned = prunable(model, PruningSchedule(0.75, begin_step=0, end_step=4, frequency=1))
    pruned.compile(keras.optimizers.Adam(1e-3), loss=masked_bce)
    pruned.fit(features, target.astype(np.float32), batch_size=4, epochs=4, verbose=0,
               callbacks=pruning_callbacks())
    reached = sparsity(model)
    assert reached["total"] == pytest.approx(0.75, abs=0.01)
    assert min(reached["by_layer"].values()) > 0.6  # every kernel is pruned, not a few
    stripped = strip_pruning(pruned)
    assert [layer.name for layer in stripped.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(stripped.predict(features, verbose=0), model.predict(features, verbose=0))


def test_pruning_schedule_is_validated():
    with pytest.raises(ValueError, match="0, 1"):
        PruningSchedule(1.0, 0, 10)
    with pytest.raises(ValueError, match="begin before"):
        PruningSchedule(0.5, 10, 10)
    with pytest.raises(ValueError, match="fractions"):
        PruningSchedule.over_training(0.5, 100, 0.8, 0.2)
    schedule = PruningSchedule.over_training(0.5, 1000)
    assert (schedule.begin_step, schedule.end_step) == (100, 700)
