"""Knowledge distillation: KD losses against numpy, the Distiller's loss, frozen teacher, CLI."""

import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from deeprx_cli import main
from deeprx_tf.history import read_learning_curve, slots_to_reach
from deeprx_tf.losses import masked_bce
from deeprx_tf.machine import cpu_description
from distill.distiller import DeepRxDistiller, Distiller
from distill.losses import LOGIT_CLIP, categorical_kl, masked_bitwise_kl, masked_logit_mse
from link_sim.errors import InputError

BITS = 4
RNG = np.random.default_rng(0)


def np_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def np_bitwise_kl(zt, zs, T):
    pt, ps = np_sigmoid(zt / T), np_sigmoid(zs / T)
    return pt * np.log(pt / ps) + (1 - pt) * np.log((1 - pt) / (1 - ps))


def np_bce(labels, z):
    p = np_sigmoid(z)
    return -(labels * np.log(p) + (1 - labels) * np.log(1 - p))


def masked_mean(values, mask):
    """[batch, S, F, bits] averaged over masked REs and bits -> [batch]."""
    return (values * mask[..., None]).sum(axis=(1, 2, 3)) / (mask.sum(axis=(1, 2)) * values.shape[-1])


def make_target(batch=3, s=4, f=5):
    labels = (RNG.random((batch, s, f, BITS)) > 0.5).astype(np.float32)
    mask = (RNG.random((batch, s, f)) > 0.3).astype(np.float32)
    return labels, mask, np.concatenate([labels, mask[..., None]], axis=-1)


def test_masked_bitwise_kl_matches_numpy():
    labels, mask, target = make_target()
    zt = RNG.normal(0, 3, labels.shape).astype(np.float32)
    zs = RNG.normal(0, 3, labels.shape).astype(np.float32)
    for T in (1.0, 3.0):
        got = masked_bitwise_kl(target, zt, zs, T).numpy()
        np.testing.assert_allclose(got, masked_mean(np_bitwise_kl(zt, zs, T), mask), rtol=1e-5)
    assert np.allclose(masked_bitwise_kl(target, zt, zt, 2.0).numpy(), 0.0, atol=1e-6)


def test_logit_matching_and_sum_reduction_match_numpy():
    labels, mask, target = make_target()
    zt = RNG.normal(0, 15, labels.shape).astype(np.float32)
    zs = RNG.normal(0, 15, labels.shape).astype(np.float32)
    count = mask.sum(axis=(1, 2)) * BITS
    for T in (1.0, 2.0):
        squared = (np.clip(zs / T, -LOGIT_CLIP, LOGIT_CLIP) - np.clip(zt / T, -LOGIT_CLIP, LOGIT_CLIP)) ** 2
        np.testing.assert_allclose(masked_logit_mse(target, zt, zs, T).numpy(), masked_mean(squared, mask),
                                   rtol=1e-5)
        np.testing.assert_allclose(masked_logit_mse(target, zt, zs, T, reduction="sum").numpy(),
                                   masked_mean(squared, mask) * count, rtol=1e-5)
    np.testing.assert_allclose(masked_bitwise_kl(target, zt, zs, 3.0, reduction="sum").numpy(),
                               masked_mean(np_bitwise_kl(zt, zs, 3.0), mask) * count, rtol=1e-4)
    with pytest.raises(ValueError, match="reduction"):
        masked_logit_mse(target, zt, zs, reduction="median")


def test_categorical_kl_matches_numpy():
    zt, zs = RNG.normal(size=(6, 5)), RNG.normal(size=(6, 5))
    T = 2.0
    pt = np.exp(zt / T) / np.exp(zt / T).sum(-1, keepdims=True)
    ps = np.exp(zs / T) / np.exp(zs / T).sum(-1, keepdims=True)
    np.testing.assert_allclose(categorical_kl(zt.astype(np.float32), zs.astype(np.float32), T).numpy(),
                               (pt * np.log(pt / ps)).sum(-1), rtol=1e-5)


def conv_model(seed):
    """A small logits model without batch norm (training and inference outputs agree)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(BITS, 1)(x))


def test_distiller_loss_is_alpha_bce_plus_kl():
    labels, mask, target = make_target()
    x = RNG.normal(size=(3, 4, 5, 3)).astype(np.float32)
    student, teacher = conv_model(1), conv_model(2)
    zs, zt = student(x).numpy(), teacher(x).numpy()
    alpha, T = 7.0, 3.0
    expected_bce = masked_mean(np_bce(labels, zs), mask).mean()
    expected_kl = masked_mean(np_bitwise_kl(zt, zs, T), mask).mean()
    for t2, factor in ((False, 1.0), (True, T ** 2)):
        distiller = DeepRxDistiller(student, teacher)
        distiller.compile(keras.optimizers.SGD(0.0), student_loss_fn=masked_bce, alpha=alpha,
                          temperature=T, scale_by_t2=t2)
        logs = distiller.train_on_batch(x, target, return_dict=True)
        assert logs["student_loss"] == pytest.approx(expected_bce, rel=1e-5)
        assert logs["distillation_loss"] == pytest.approx(factor * expected_kl, rel=1e-5)
        assert logs["loss"] == pytest.approx(alpha * expected_bce + factor * expected_kl, rel=1e-5)


def test_teacher_is_frozen_and_large_alpha_is_training_from_scratch():
    _, _, target = make_target(batch=8)
    x = RNG.normal(size=(8, 4, 5, 3)).astype(np.float32)
    teacher = conv_model(2)
    teacher_before = [w.copy() for w in teacher.get_weights()]
    distilled, scratch = conv_model(1), conv_model(1)
    initial = [w.copy() for w in distilled.get_weights()]
    # alpha * BCE + KL with learning rate lr / alpha is BCE + KL / alpha with lr: scratch as alpha grows
    alpha, lr = 1e6, 0.5
    distiller = DeepRxDistiller(distilled, teacher)
    distiller.compile(keras.optimizers.SGD(lr / alpha), student_loss_fn=masked_bce, alpha=alpha,
                      temperature=2.0)
    distiller.fit(x, target, batch_size=4, epochs=3, shuffle=False, verbose=0)
    scratch.compile(keras.optimizers.SGD(lr), loss=masked_bce)
    scratch.fit(x, target, batch_size=4, epochs=3, shuffle=False, verbose=0)
    for before, after in zip(teacher_before, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert any(not np.allclose(a, b) for a, b in zip(initial, distilled.get_weights()))
    for a, b in zip(distilled.get_weights(), scratch.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # a small alpha lets the teacher pull the student elsewhere
    pulled = conv_model(1)
    d2 = DeepRxDistiller(pulled, teacher)
    d2.compile(keras.optimizers.SGD(lr), student_loss_fn=masked_bce, alpha=1e-3, temperature=2.0)
    d2.fit(x, target, batch_size=4, epochs=3, shuffle=False, verbose=0)
    assert not np.allclose(pulled.get_weights()[0], scratch.get_weights()[0], atol=1e-3)


def test_sobolev_term_matches_input_gradients():
    x = RNG.normal(size=(4, 4, 5, 3)).astype(np.float32)
    _, _, target = make_target(batch=4)
    teacher = conv_model(2)
    twin = conv_model(2)  # the teacher's own weights: identical input gradients
    _, loss = DeepRxDistiller(twin, teacher).sobolev_loss(x)
    np.testing.assert_allclose(loss.numpy(), 0.0, atol=1e-10)
    other = conv_model(1)
    distiller = DeepRxDistiller(other, teacher)
    _, loss = distiller.sobolev_loss(x)
    assert np.all(loss.numpy() > 0)
    # a Sobolev-only objective (alpha 0, no KL) pulls the student's gradients towards the teacher's
    distiller.compile(keras.optimizers.Adam(1e-2), student_loss_fn=masked_bce, alpha=0.0,
                      distillation_loss_fn=lambda t, zt, zs, T: tf.zeros(tf.shape(zs)[:1]),
                      sobolev_weight=1.0)
    tf.random.set_seed(0)
    before = float(np.mean([distiller.sobolev_loss(x)[1].numpy().mean() for _ in range(20)]))
    distiller.fit(x, target, batch_size=4, epochs=30, verbose=0)
    after = float(np.mean([distiller.sobolev_loss(x)[1].numpy().mean() for _ in range(20)]))
    assert after < 0.5 * before


def test_keras_io_example_runs_unchanged_and_evaluate_labels_right():
    """keras.io's distillation code (examples/keras_distillation.py) on synthetic digits."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "examples" / "keras_distillation.py"
    spec = importlib.util.spec_from_file_location("keras_distillation", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.main(["--samples", "600", "--epochs", "4", "--width", "0.25"])
    distilled = result["distilled"]
    assert list(distilled) == ["loss", "student_loss", "distillation_loss", "sparse_categorical_accuracy"]
    assert distilled["sparse_categorical_accuracy"] > 0.4  # the student learned (chance: 0.1)
    # keras.io's weighting: loss = alpha * student + (1 - alpha) * distillation (T^2 inside)
    assert distilled["loss"] == pytest.approx(0.1 * distilled["student_loss"]
                                              + 0.9 * distilled["distillation_loss"], rel=1e-4)


def test_distiller_evaluate_matches_its_metrics_names():
    x = RNG.normal(size=(32, 6)).astype(np.float32)
    y = RNG.integers(0, 3, 32)
    dense = lambda seed: keras.Sequential([keras.Input((6,)), keras.layers.Dense(  # noqa: E731
        3, kernel_initializer=keras.initializers.GlorotUniform(seed))])
    student, teacher = dense(1), dense(2)
    distiller = Distiller(student=student, teacher=teacher)
    distiller.compile(keras.optimizers.SGD(0.0), metrics=[keras.metrics.SparseCategoricalAccuracy()],
                      student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      distillation_loss_fn=keras.losses.KLDivergence(), alpha=0.3, temperature=2.0)
    values = distiller.evaluate(x, y, verbose=0)  # Keras names its metrics once they are built
    logs = dict(zip(distiller.metrics_names, values))
    assert logs == distiller.evaluate(x, y, verbose=0, return_dict=True)
    zs, zt = student(x).numpy(), teacher(x).numpy()
    accuracy = np.mean(zs.argmax(-1) == y)
    ce = -np.mean(tf.nn.log_softmax(zs).numpy()[np.arange(32), y])
    kl = 4.0 * np.mean(categorical_kl(zt, zs, 2.0).numpy())
    assert logs["sparse_categorical_accuracy"] == pytest.approx(accuracy)
    assert logs["student_loss"] == pytest.approx(ce, rel=1e-5)
    assert logs["distillation_loss"] == pytest.approx(kl, rel=1e-4)
    assert logs["loss"] == pytest.approx(0.3 * ce + 0.7 * kl, rel=1e-4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        distiller.compile("sgd", student_loss_fn=keras.losses.MeanSquaredError(), alpha=5.0)


def test_keras3_model_is_refused_in_one_line():
    import keras as keras3

    model3 = keras3.Sequential([keras3.Input((6,)), keras3.layers.Dense(3)])
    teacher = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    with pytest.raises(TypeError, match="Keras 3; build it with tf_keras") as exc:
        Distiller(student=model3, teacher=teacher)
    assert "\n" not in str(exc.value)


TINY = ["--num-prb", "1", "--steps", "4", "--steps-per-epoch", "2", "--warmup-steps", "1",
        "--batch-size", "4", "--validation-slots", "8", "--validation-sinr", "20",
        "--channels", "TDL-C", "--dmrs-symbols", "1"]


def test_distill_cli_end_to_end(tmp_path, capsys):
    teacher = tmp_path / "teacher"
    main(["train", *TINY, "--preset", "x0.125", "--out", str(teacher)])
    student = tmp_path / "student"
    main(["distill", *TINY, "--teacher", str(teacher), "--student-preset", "x0.0625",
          "--alpha", "10", "--temperature", "2", "--sobolev-weight", "0.1", "--seed", "3",
          "--kd-loss", "logit-mse", "--kd-reduction", "sum",
          "--prune-sparsity", "0.5", "--prune-schedule", "0,0.5", "--out", str(student)])
    meta = json.loads((student / "model.json").read_text())
    card = meta["card"]
    assert card["complete"] and card["distillation"]["teacher"] == str(teacher)
    assert card["distillation"]["alpha"] == 10 and card["distillation"]["temperature"] == 2
    assert card["runs"][0]["data_seed"] == 3 and card["distillation"]["sobolev_weight"] == 0.1
    assert card["distillation"]["kd_loss"] == "logit-mse" and card["distillation"]["kd_reduction"] == "sum"
    assert card["distillation"]["teacher_batch_norm"] == "statistics per DMRS count"  # the teacher saved them
    assert meta["deeprx"]["conv_in_filters"] == 4  # the student, not the teacher, is saved
    # KD combined with magnitude pruning: the saved student is the pruned one
    from deeprx_tf.checkpoint import load_checkpoint
    from deeprx_tf.pruning import sparsity

    assert card["pruning"]["target_sparsity"] == 0.5
    assert sparsity(load_checkpoint(student).model)["total"] == pytest.approx(0.5, abs=0.02)
    assert card["pruning"]["sparsity_reached"] == pytest.approx(0.5, abs=0.02)
    # quantization-aware distillation: the student starts from the teacher itself (its
    # architecture and weights) and trains fake int8 against the teacher's LLRs
    qad = tmp_path / "qad"
    main(["distill", *TINY, "--teacher", str(teacher), "--init-from", str(teacher), "--qat",
          "--alpha", "0", "--temperature", "1", "--lr", "1e-12", "--out", str(qad)])
    qad_card = json.loads((qad / "model.json").read_text())["card"]
    assert qad_card["init_from"] == str(teacher) and qad_card["qat"]
    assert qad_card["distillation"]["alpha"] == 0 and (qad / "qat_weights.h5").is_file()
    np.testing.assert_allclose(load_checkpoint(qad).model.get_layer("conv_in").kernel.numpy(),
                               load_checkpoint(teacher).model.get_layer("conv_in").kernel.numpy(),
                               atol=1e-6)
    # bad input: no student size; a teacher that does not exist; an --init-from of another size;
    # a student reading other input features than the teacher
    (tmp_path / "eq.json").write_text('{"equalized_input": true}')
    for argv, message in [
        (["distill", *TINY, "--teacher", str(teacher), "--student-model-config", str(tmp_path / "eq.json"),
          "--out", str(tmp_path / "d")], "the teacher reads the published DeepRx's inputs"),
        (["distill", *TINY, "--teacher", str(teacher), "--out", str(tmp_path / "a")], "student's size"),
        (["distill", *TINY, "--teacher", str(tmp_path / "none"), "--student-preset", "x0.0625",
          "--out", str(tmp_path / "b")], "does not exist"),
        (["distill", *TINY, "--teacher", str(teacher), "--init-from", str(teacher),
          "--student-preset", "x0.0625", "--out", str(tmp_path / "c")], "architecture"),
    ]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and message in err and err.count("\n") == 1, err


def test_sweep_runs_the_four_steps_and_resumes(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", *TINY, "--student-widths", "0.0625", "--student-width", "0.0625",
            "--teacher-widths", "0.125", "--alphas", "1", "--temperatures", "3", "--sinr", "20",
            "--final-dmrs", "1", "--final-seeds", "1", "--final-batch-size", "4", "--final-max-mc-iter", "2",
            "--perfect-csi-alpha", "1", "--out", str(out)]
    main(argv)
    runs = sorted(p.name for p in (out / "runs").iterdir())
    # (more final seeds, their "_seed<k>" runs, --alpha-reductions mean,sum and its "_sum" runs, a
    # given teacher: the slow test of examples/reproduce_paper.py)
    assert runs == ["kd_x0.0625_from_perfect-csi_a1", "kd_x0.0625_from_x0.125_a1_T3", "scratch_x0.0625",
                    "scratch_x0.125"]
    genie_card = json.loads((out / "runs" / "kd_x0.0625_from_perfect-csi_a1" / "model.json").read_text())["card"]
    assert genie_card["train"]["genie_loss_weight"] == 1.0
    for step in ("student_size", "teacher_size", "alpha", "temperature"):
        assert (out / f"{step}.png").stat().st_size > 1000
    teacher_size = json.loads((out / "teacher_size.json").read_text())
    assert teacher_size["best_teacher"] == 0.125
    assert teacher_size["rows"][0]["run"] == "kd_x0.0625_from_x0.125_a1_T3"
    final = json.loads((out / "final.json").read_text())
    curves = final["dmrs"]["1"]["curves"]
    assert set(curves) == {"scratch student", "KD student", "teacher", "LS+LMMSE", "perfect-CSI KD student"}
    assert final["seeds"] == [0] and set(final["dmrs"]["1"]["perfect_csi"]) == {"kd_gain_over_scratch",
                                                                                 "exploratory_gain"}
    # the validation on unseen channels, per seed, and each KD arm paired with its scratch twin
    scratch_card = json.loads((out / "runs" / "scratch_x0.0625" / "model.json").read_text())["card"]
    assert final["validation_gmber"]["scratch student"] == [scratch_card["validation"]["val_gmber"]]
    assert final["validation_gmber_minus_scratch"]["perfect-CSI KD student"] == [
        genie_card["validation"]["val_gmber"] - scratch_card["validation"]["val_gmber"]]
    # the learning curves: slots to reach scratch's final validation, and each run's pace and CPU
    learning = final["learning_curves"]
    assert (out / learning["file"]).stat().st_size > 1000
    scratch_curve = read_learning_curve(out / "runs" / "scratch_x0.0625")
    assert learning["scratch_final_val_gmber"] == [scratch_curve["val_gmber"][-1]]
    genie_curve = read_learning_curve(out / "runs" / "kd_x0.0625_from_perfect-csi_a1")
    assert learning["slots_to_reach_scratch_final"]["perfect-CSI KD student"] == [
        slots_to_reach(genie_curve, scratch_curve["val_gmber"][-1])]
    pace = learning["training_pace"]["KD student"][0]
    assert pace["slots"] == genie_card["train"]["steps"] * genie_card["train"]["batch_size"]
    assert pace["seconds_per_slot"] > 0 and pace["machine"] == cpu_description()
    assert curves["KD student"]["num_seeds"] == 1 and curves["teacher"]["num_seeds"] == 1
    assert curves["KD student"]["num_batches"] == 2 and len(curves["KD student"]["ci_low"]) == 1
    assert (out / "final_dmrs1" / "ber.png").is_file() and (out / "final_dmrs1" / "fig6.png").is_file()
    # run again: every finished run and the finished comparison are reused, nothing retrains or
    # re-simulates, and the result is the same
    stamps = {r: (out / "runs" / r / "weights.h5").stat().st_mtime_ns for r in runs}
    swept = (out / "final_dmrs1" / "results.json").stat().st_mtime_ns
    main(argv)
    assert stamps == {r: (out / "runs" / r / "weights.h5").stat().st_mtime_ns for r in runs}
    assert (out / "final_dmrs1" / "results.json").stat().st_mtime_ns == swept
    assert json.loads((out / "final.json").read_text()) == final
    # another plan in the same folder is refused
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--alpha", "2"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "another experiment" in err and err.count("\n") == 1


def test_final_reads_the_gain_at_the_declared_target_only(tmp_path):
    """Step 4's KD gain is read at the plan's target BER with its conclusion against the declared
    margin; when a student does not reach the target, a gain at a level found afterwards is given
    as exploratory only. A folder pinned before the margin existed keeps its experiment."""
    from deeprx_tf.train_config import TrainConfig
    from distill.experiments import KDExperiment
    from distill.plan import KDPlan
    from link_sim.confidence import SeedCurves
    from link_sim.config import LinkConfig

    sinr = np.array([0.0, 10.0, 20.0])
    scratch = SeedCurves("scratch", sinr, [[[2000, 2100], [200, 190], [20, 22]]] * 3, [20_000] * 3)
    kd = SeedCurves("kd", sinr, [[[1900, 2000], [180, 170], [15, 17]]] * 3, [20_000] * 3)
    plan = KDPlan(target_ber=(5e-2, 1e-2), equivalence_margin_db=5.0)
    assert plan.target_ber_for(1) == 5e-2 and plan.target_ber_for(2) == 1e-2
    declared = KDExperiment(plan, LinkConfig(), TrainConfig(), tmp_path / "a")._kd_gain(scratch, kd, 1e-2)
    gain = declared["kd_gain_over_scratch"]
    assert gain["target_ber"] == 1e-2 and gain["equivalence_margin_db"] == 5.0 and declared["exploratory_gain"] is None
    assert gain["conclusion"] in ("gain", "equivalent") and gain["equivalence_bound_db"] >= abs(gain["gain_db"])
    unreached = KDExperiment(KDPlan(target_ber=1e-4), LinkConfig(), TrainConfig(), tmp_path / "b")._kd_gain(
        scratch, kd, 1e-4)
    assert unreached["kd_gain_over_scratch"] is None and unreached["exploratory_gain"]["target_ber"] == 2e-3
    assert "conclusion" not in unreached["exploratory_gain"]
    pinned = json.loads((tmp_path / "b" / "experiment.json").read_text())
    del pinned["plan"]["equivalence_margin_db"]  # as written before the margin existed
    (tmp_path / "b" / "experiment.json").write_text(json.dumps(pinned))
    KDExperiment(KDPlan(target_ber=1e-4), LinkConfig(), TrainConfig(), tmp_path / "b")
    with pytest.raises(InputError, match="another experiment"):
        KDExperiment(KDPlan(target_ber=1e-4, equivalence_margin_db=1.0), LinkConfig(), TrainConfig(), tmp_path / "b")
    with pytest.raises(InputError, match="equivalence_margin_db"):
        KDPlan(equivalence_margin_db=0.0)
    with pytest.raises(InputError, match="one target_ber per final_dmrs_symbols"):
        KDPlan(target_ber=(1e-2, 1e-3, 1e-4))


def test_the_sweep_says_what_the_gain_shows():
    from deeprx_cli.sweep import _describe_gain

    gain = {"target_ber": 1e-2, "gain_db": 0.1, "level": 0.95, "low_db": -0.2, "high_db": 0.4,
            "conclusion": "equivalent", "equivalence_bound_db": 0.35, "equivalence_margin_db": 0.5}
    assert _describe_gain({"kd_gain_over_scratch": gain}).endswith(
        "equivalent (no difference larger than 0.35 dB; margin 0.5 dB)")
    assert _describe_gain({"kd_gain_over_scratch": {**gain, "low_db": 0.05, "conclusion": "gain"}}).endswith(
        "0.05 to 0.40 dB): gain")
    exploratory = _describe_gain({"kd_gain_over_scratch": None, "exploratory_gain": gain})
    assert exploratory.startswith("not measurable at the target BER") and "exploratory, at BER 0.01" in exploratory


def test_an_experiment_refuses_a_teacher_whose_weights_changed(tmp_path):
    """Runs distilled from a checkpoint belong to its weights: once they change (a new model
    shipped under the same name), the experiment's folder is refused in one line."""
    from deeprx_tf.checkpoint import save_checkpoint
    from deeprx_tf.config import DeepRxConfig, link_dimensions
    from deeprx_tf.model import build_deeprx
    from deeprx_tf.train_config import TrainConfig
    from distill.experiments import KDExperiment
    from distill.plan import KDPlan
    from link_sim.config import LinkConfig

    link = LinkConfig(num_prb=1)
    config = DeepRxConfig(**link_dimensions(link)).scaled(0.0625)
    teacher = tmp_path / "teacher"
    save_checkpoint(teacher, build_deeprx(config), config, link)
    plan = KDPlan(teacher_widths=(), teacher_checkpoints=(str(teacher),))
    KDExperiment(plan, link, TrainConfig(), tmp_path / "kd")
    KDExperiment(plan, link, TrainConfig(), tmp_path / "kd")  # the same teacher: the same experiment
    keras.utils.set_random_seed(1)
    save_checkpoint(teacher, build_deeprx(config), config, link)  # retrained, under the same name
    with pytest.raises(InputError, match="a teacher's weights changed"):
        KDExperiment(plan, link, TrainConfig(), tmp_path / "kd")


def test_sweep_checks_a_given_teacher_before_training(tmp_path, capsys):
    """The shipped teacher reads the equalized input: a sweep of published-input students is
    refused in one line before any run trains."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["sweep", *TINY, "--teacher", "default", "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "--model-config with the teacher's inputs" in err
    assert not (tmp_path / "s" / "runs").exists()


def test_sweep_kd_teacher_and_alpha_override_the_best(tmp_path, capsys):
    """Steps 3 and 4 distil from --kd-teacher and steps 3b and 4 with --kd-alpha when given, else
    from step 2's best teacher and step 3a's best alpha; a --kd-teacher that is none of step 2's
    teachers, or a negative --kd-alpha, is refused in one line before any run trains."""
    from deeprx_tf.train_config import TrainConfig
    from distill.experiments import KDExperiment
    from distill.plan import KDPlan
    from link_sim.config import LinkConfig

    def experiment(out, **plan):
        out.mkdir()
        (out / "teacher_size.json").write_text(json.dumps({"best_teacher": 0.125}))
        (out / "alpha.json").write_text(json.dumps({"best_alpha": 5e5, "best_kd_reduction": "sum"}))
        return KDExperiment(KDPlan(teacher_widths=(0.125, 0.25), **plan), LinkConfig(), TrainConfig(), out)

    paper_rule = experiment(tmp_path / "a")
    assert paper_rule.kd_teacher() == 0.125 and paper_rule.kd_alpha() == (5e5, "sum")
    chosen = experiment(tmp_path / "b", kd_teacher=0.25, kd_alpha=1.0)
    assert chosen.kd_teacher() == 0.25 and chosen.kd_alpha() == (1.0, "mean")
    for option, message in [(["--kd-teacher", "x0.25"], "neither a --teacher nor a width"),
                            (["--kd-teacher", "0.5"], "none of step 2's teachers"),
                            (["--kd-alpha", "-1"], "--kd-alpha")]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main(["sweep", *TINY, "--teacher-widths", "0.125,0.25", *option, "--out", str(tmp_path / "s")])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "s").exists()
