"""The `deeprx` command line: a real tiny simulation and one-line errors with exit code 2."""

import json

import numpy as np
import pytest

from deeprx_cli import main

TINY = ["--num-prb", "1", "--speed", "0,3", "--batch-size", "8", "--max-mc-iter", "1",
        "--sinr", "10,30"]
BASELINES = ["--receiver", "lmmse", "--receiver", "perfect-csi"]
# no --warmup-steps: a 4-step run warms up for a tenth of it (0 steps) by default
TINY_TRAIN = ["--num-prb", "1", "--preset", "x0.0625", "--steps", "4", "--steps-per-epoch", "2",
              "--batch-size", "4", "--validation-slots", "8",
              "--validation-sinr", "20", "--channels", "TDL-C", "--dmrs-symbols", "1", "--batch-norm-slots", "8"]


def run(argv, capsys):
    capsys.readouterr()  # drop what earlier calls printed
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_simulate_writes_results(tmp_path, capsys):
    out_dir = tmp_path / "sim"
    main(["simulate", *TINY, *BASELINES, "--out", str(out_dir)])
    report = json.loads((out_dir / "results.json").read_text())
    assert report["scenario"]["num_prb"] == 1
    assert set(report["receivers"]) == {"lmmse", "perfect-csi"}
    for entry in report["receivers"].values():
        assert [p["sinr_db"] for p in entry["points"]] == [10.0, 30.0]
        for p in entry["points"]:
            assert {"uncoded_ber", "coded_ber", "bler", "bits", "blocks"} <= set(p)
            assert p["blocks"] == 8
        assert entry["geometric_mean_ber"] < 0
    assert (out_dir / "ber.png").stat().st_size > 1000
    assert (out_dir / "ber.csv").read_text().count("\n") == 5


@pytest.mark.parametrize("args, message", [
    (["--channel", "CDL-Z"], "unknown channel model"),
    (["--mcs-index", "15"], "256-QAM"),
    (["--sinr", "0:10"], "malformed SINR grid"),
    (["--sinr", "5:x:5"], "malformed SINR grid"),
    (["--sinr", "5,abc"], "malformed SINR grid"),
    (["--sinr", "10,5"], "strictly increasing"),
    (["--sinr", "0:10:-1"], "step must be positive"),
    (["--sinr", "0:1e12:1"], "at most 200 points"),
    (["--sinr", "-1e300,1e300"], "must lie within [-30, 60] dB"),
    (["--sinr", "nan"], "must lie within"),
    (["--batch-size", "100000000"], "--batch-size 100000000 is too large"),
    (["--target-ber", "nan"], "target"),
    (["--receiver", "zf"], "unknown receiver"),
    (["--speed", "fast"], "--speed"),
    (["--num-prb", "x"], "num-prb"),
    (["--bogus"], "No such option"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, args, message):
    code, out, err = run(["simulate", *BASELINES, "--out", str(tmp_path / "o"), *args], capsys)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o" / "results.json").exists()


def test_missing_config_file(tmp_path, capsys):
    code, _, err = run(["simulate", "--config", str(tmp_path / "nope.json")], capsys)
    assert code == 2 and "does not exist" in err


def test_write_config_gives_the_scenario_that_config_reads(tmp_path, capsys):
    from link_sim import LinkConfig

    first, second = tmp_path / "a.json", tmp_path / "b.json"
    main(["simulate", "--channel", "CDL-D", "--num-dmrs-symbols", "2", "--write-config", str(first)])
    assert LinkConfig.from_json(first) == LinkConfig(channel_model="CDL-D", num_dmrs_symbols=2)
    main(["simulate", "--config", str(first), "--num-prb", "2", "--write-config", str(second)])
    assert LinkConfig.from_json(second) == LinkConfig.from_json(first).replace(num_prb=2)
    code, _, err = run(["simulate", "--write-config", str(first)], capsys)  # never clobbered
    assert code == 2 and "--overwrite" in err and LinkConfig.from_json(first).num_prb == 4


def test_unwritable_output(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(["simulate", "--out", str(blocker / "sub")], capsys)
    assert code == 2 and "cannot write" in err and err.count("\n") == 1


def test_existing_results_are_not_clobbered(tmp_path, capsys):
    out_dir = tmp_path / "sim"
    out_dir.mkdir()
    (out_dir / "results.json").write_text('{"keep": true}')
    code, _, err = run(["simulate", "--out", str(out_dir)], capsys)
    assert code == 2 and "--overwrite" in err
    assert json.loads((out_dir / "results.json").read_text()) == {"keep": True}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny checkpoint trained by ``deeprx train`` (2 epochs of 2 steps of 4 slots), shared by the
    tests of what the other commands do with it."""
    ckpt = tmp_path_factory.mktemp("trained") / "ck"
    main(["train", *TINY_TRAIN, "--out", str(ckpt)])
    return ckpt


@pytest.fixture(scope="module")
def exported(trained):
    """The trained checkpoint exported to int8 by ``deeprx export``."""
    tflite = trained.parent / "ck_int8.tflite"
    main(["export", "--checkpoint", str(trained), "--format", "int8", "--calibration-slots", "8",
          "--out", str(tflite)])
    return tflite


def test_train_writes_a_finished_checkpoint_with_its_card_and_curves(trained, tmp_path):
    card = json.loads((trained / "model.json").read_text())["card"]
    assert card["complete"] and card["train"]["steps"] == 4 and card["train"]["warmup_steps"] == 0
    assert card["command"].startswith("deeprx")
    assert (trained / "logs").is_dir()  # TensorBoard
    from deeprx_tf.history import plot_learning_curves, read_learning_curve

    curve = read_learning_curve(trained)  # 2 epochs of 2 steps of 4 slots
    assert curve["slots"] == [8, 16] and curve["steps"] == [2, 4] and len(curve["val_gmber"]) == 2
    best = json.loads((trained / "best" / "model.json").read_text())["card"]["best"]  # a checkpoint too
    assert best == card["best"] and best["val_gmber"] == min(curve["val_gmber"])
    assert curve["val_gmber"][best["epoch"] - 1] == best["val_gmber"]
    assert plot_learning_curves({"tiny": curve}, tmp_path / "curves.png").stat().st_size > 0
    assert plot_learning_curves({"a": curve, "b": curve}, tmp_path / "arms.png",
                                groups={"one arm": ["a", "b"]}).stat().st_size > 0
    from deeprx_tf.history import slots_to_reach, training_pace
    from deeprx_tf.machine import cpu_description

    first = curve["val_gmber"].index(best["val_gmber"])
    assert slots_to_reach(curve, best["val_gmber"]) <= curve["slots"][first]
    assert slots_to_reach(curve, best["val_gmber"] - 1e-9) is None
    pace = training_pace(trained)  # one session: every slot, on this CPU
    assert pace["slots"] == 16 and pace["machine"] == cpu_description() and pace["seconds_per_slot"] > 0
    assert pace["seconds_per_slot"] == card["train_seconds_this_run"] / 16


def test_batch_norm_statistics_are_added_to_a_checkpoint_and_clobber_nothing(trained, tmp_path, capsys):
    from deeprx_tf.checkpoint import load_checkpoint

    out = tmp_path / "with_stats"
    capsys.readouterr()
    main(["batch-norm-statistics", str(trained), "--out", str(out), "--slots", "16"])
    assert "1 DMRS symbol(s), 16 training slots each (seed 123)" in capsys.readouterr().out
    source, updated = load_checkpoint(trained), load_checkpoint(out)
    assert updated.card["batch_norm_statistics"]["seed"] == 123 and updated.card["train"] == source.card["train"]
    assert all((a == b).all() for a, b in zip(source.model.get_weights(), updated.model.get_weights()))
    assert updated.batch_norm_statistics.dmrs_symbols == (1,)  # the DMRS counts it trained on
    before = (out / "model.json").read_text()
    code, _, err = run(["batch-norm-statistics", str(trained), "--out", str(out)], capsys)
    assert code == 2 and "already exists" in err and "Traceback" not in err
    assert (out / "model.json").read_text() == before
    code, _, err = run(["batch-norm-statistics", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "does not exist" in err and not (tmp_path / "x").exists()
    code, _, err = run(["batch-norm-statistics", str(trained), "--out", str(tmp_path / "y"), "--slots", "8"],
                       capsys)
    assert code == 2 and "--slots" in err


def test_kept_epochs_average_with_fresh_statistics(trained, tmp_path, capsys):
    from deeprx_tf.checkpoint import load_checkpoint

    run_dir, out = tmp_path / "run", tmp_path / "avg"
    main(["train", *TINY_TRAIN, "--keep-epochs", "--out", str(run_dir)])  # 2 epochs of 2 steps
    kept = sorted(p.name for p in (run_dir / "epochs").iterdir())
    assert kept == ["001", "002"]
    first, last = load_checkpoint(run_dir / "epochs" / "001"), load_checkpoint(run_dir / "epochs" / "002")
    assert first.batch_norm_statistics is not None and first.card["epochs_done"] == 1
    assert all((a == b).all() for a, b in zip(last.model.get_weights(), load_checkpoint(run_dir).model.get_weights()))
    main(["average", str(run_dir / "epochs" / "002"), str(run_dir / "epochs" / "001"), "--out", str(out),
          "--slots", "16"])
    averaged = load_checkpoint(out)
    for a, b, mean in zip(last.model.trainable_weights, first.model.trainable_weights,
                          averaged.model.trainable_weights):
        np.testing.assert_allclose(mean.numpy(), (a.numpy() + b.numpy()) / 2, rtol=1e-6, atol=1e-7)
    # the moving statistics are estimated for the average, not averaged
    head = [m.get_layer("head/bn").moving_variance.numpy() for m in (last.model, first.model, averaged.model)]
    assert not np.allclose(head[2], (head[0] + head[1]) / 2, rtol=1e-3)
    assert averaged.card["averaged_from"] == [str(run_dir / "epochs" / "002"), str(run_dir / "epochs" / "001")]
    assert "validation" not in averaged.card and averaged.batch_norm_statistics.dmrs_symbols == (1,)
    assert averaged.card["complete"] and averaged.card["train"] == last.card["train"]
    code, _, err = run(["average", str(trained), "default", "--out", str(tmp_path / "mixed")], capsys)
    assert code == 2 and "another architecture or scenario" in err and err.count("\n") == 1
    code, _, err = run(["average", str(trained), "--out", str(tmp_path / "one")], capsys)
    assert code == 2 and "at least two" in err and not (tmp_path / "one").exists()


def test_a_finished_checkpoint_is_not_trained_over_without_overwrite(trained, capsys):
    before = (trained / "weights.h5").read_bytes()
    code, _, err = run(["train", *TINY_TRAIN, "--out", str(trained)], capsys)
    assert code == 2 and "--overwrite" in err and "other options" not in err
    code, _, err = run(["train", *TINY_TRAIN, "--steps", "8", "--out", str(trained)], capsys)  # to extend it
    assert code == 2 and "other options (training steps)" in err and f"--init-from {trained}" in err
    assert err.count("\n") == 1
    assert (trained / "weights.h5").read_bytes() == before


def test_simulate_takes_the_checkpoint_and_several_side_by_side(trained, tmp_path):
    main(["simulate", *TINY, "--receiver", "lmmse", "--receiver", "deeprx", "--checkpoint", str(trained),
          "--out", str(tmp_path / "sim")])
    report = json.loads((tmp_path / "sim" / "results.json").read_text())
    assert set(report["receivers"]) == {"lmmse", "deeprx"}
    assert report["receivers"]["deeprx"]["points"][0]["uncoded_bits"] > 0
    main(["simulate", *TINY, "--receiver", f"deeprx:{trained}", "--receiver", "deeprx",
          "--out", str(tmp_path / "two")])
    two = json.loads((tmp_path / "two" / "results.json").read_text())["receivers"]
    assert list(two) == [f"deeprx:{trained}", "deeprx"]


def test_simulate_warns_once_per_mismatch_where_the_checkpoint_never_trained(trained, tmp_path, capsys):
    capsys.readouterr()
    main(["simulate", *TINY, "--num-dmrs-symbols", "2", "--receiver", "deeprx", "--checkpoint", str(trained),
          "--out", str(tmp_path / "dmrs2")])
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "2 DMRS symbol(s) (trained on 1)" in warned[0]


def test_a_checkpoint_that_does_not_fit_the_scenario_is_one_line(trained, tmp_path, capsys):
    code, _, err = run(["simulate", *TINY, "--num-rx-ant", "4", "--receiver", "deeprx", "--checkpoint",
                        str(trained), "--out", str(tmp_path / "s2")], capsys)
    assert code == 2 and "receive antennas" in err and err.count("\n") == 1


def test_fine_tuning_with_qat_starts_from_the_checkpoints_weights(trained, tmp_path):
    # a vanishing learning rate keeps the weights it started from
    tuned = tmp_path / "tuned"
    main(["train", *TINY_TRAIN, "--init-from", str(trained), "--lr", "1e-12", "--seed", "7", "--qat",
          "--out", str(tuned)])
    from deeprx_tf.checkpoint import load_checkpoint

    before, after = load_checkpoint(trained).model, load_checkpoint(tuned).model
    np.testing.assert_allclose(after.get_layer("conv_in").kernel.numpy(),
                               before.get_layer("conv_in").kernel.numpy(), atol=1e-6)
    tuned_card = json.loads((tuned / "model.json").read_text())["card"]
    assert tuned_card["init_from"] == str(trained) and tuned_card["qat"]
    assert tuned_card["training_domain"] == {"channel_models": ["TDL-C"], "dmrs_symbols": [1],
                                             "mcs_indices": [20], "sinr_db": [-4.0, 32.0]}
    assert (tuned / "qat_weights.h5").is_file()  # the QAT state, learned ranges included


def test_export_to_int8_and_simulate_the_deployed_file(trained, exported, tmp_path):
    sidecar = json.loads(exported.with_suffix(".json").read_text())
    assert sidecar["input"]["dtype"] == "int8" and sidecar["checkpoint"] == str(trained)
    assert sidecar["grid"] == {"num_ofdm_symbols": 14, "num_subcarriers": 12}
    assert sidecar["calibration"]["ranges"] == "batch-mean"
    main(["simulate", *TINY, "--receiver", f"deeprx:{trained}", "--receiver", f"tflite:{exported}",
          "--out", str(tmp_path / "deployed")])
    deployed = json.loads((tmp_path / "deployed" / "results.json").read_text())["receivers"]
    assert deployed[f"tflite:{exported}"]["points"][0]["uncoded_bits"] > 0


def test_export_folds_the_batch_norm_statistics_of_the_scenarios_dmrs_count(trained, tmp_path):
    from deeprx_tf.checkpoint import load_checkpoint
    from deeprx_tf.export import calibration_features
    from deeprx_tf.litert import TFLiteModel

    out = tmp_path / "f.tflite"
    main(["export", "--checkpoint", str(trained), "--format", "float", "--out", str(out)])
    loaded = load_checkpoint(trained)  # trained on one DMRS symbol: statistics for it
    features = calibration_features(loaded.link_config, 2, seed=3, model_config=loaded.config)
    logits = TFLiteModel(out).predict(features)
    expected = loaded.model_for(1)(features, training=False).numpy()
    np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-4 * np.abs(expected).max())
    as_saved = loaded.model(features, training=False).numpy()
    assert np.abs(as_saved - expected).max() > 1e-2 * np.abs(expected).max()


def test_export_says_what_it_does_and_hides_the_converters_log(trained, tmp_path, capfd):
    main(["export", "--checkpoint", str(trained), "--format", "float", "--out", str(tmp_path / "f.tflite")])
    out, err = capfd.readouterr()  # the process' stderr: what TensorFlow's C++ prints too
    assert "simulating" in err and "folding the batch normalizations" in err and "converting to TFLite" in err
    assert "depthwise convolutions with a depth multiplier as a channel repeat and multiplier 1" in out
    assert "W0000" not in err and "I0000" not in err and "mlir" not in err.lower()


def test_bad_export_and_tflite_input_is_one_line_and_clobbers_nothing(trained, exported, tmp_path, capsys):
    before = exported.read_bytes()
    for argv, message in [
        (["export", "--checkpoint", str(trained), "--out", str(exported)], "--overwrite"),
        (["export", "--checkpoint", str(trained), "--format", "int4", "--out", str(tmp_path / "x.tflite")],
         "int4"),
        (["export", "--checkpoint", str(trained), "--calibration", "percentile", "--out",
          str(tmp_path / "x.tflite")], "percentile"),
        (["simulate", *TINY, "--num-prb", "2", "--receiver", f"tflite:{exported}", "--out",
          str(tmp_path / "s3")], "grid"),
        (["simulate", *TINY, "--receiver", f"tflite:{tmp_path / 'none.tflite'}", "--out",
          str(tmp_path / "s4")], "does not exist"),
    ]:
        code, _, err = run(argv, capsys)
        assert code == 2 and message in err and err.count("\n") == 1, err
    assert exported.read_bytes() == before


def test_profile_the_trained_checkpoint_on_its_own_grid(trained, tmp_path):
    main(["profile", "--checkpoint", str(trained), "--out", str(tmp_path / "prof")])
    profile = json.loads((tmp_path / "prof" / "profile.json").read_text())
    assert profile["about"]["num_subcarriers"] == 12 and profile["flops"]["analytic_mismatches"] == []


@pytest.mark.parametrize("make, message", [
    (lambda p: p, "does not exist"),
    (lambda p: (p.mkdir(), (p / "model.json").write_text("{"), (p / "weights.h5").write_text(""))[0],
     "not valid JSON"),
])
def test_bad_checkpoint_is_one_line_exit_2(tmp_path, capsys, make, message):
    ckpt = tmp_path / "ck"
    make(ckpt)
    code, _, err = run(["simulate", "--receiver", "deeprx", "--checkpoint", str(ckpt),
                        "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_checkpoint_needs_deeprx_receiver(tmp_path, capsys):
    code, _, err = run(["simulate", "--receiver", "lmmse", "--checkpoint", str(tmp_path),
                        "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "--receiver deeprx" in err


def test_help_loads_no_tensorflow_and_defaults_are_the_libraries():
    """Each command's --help answers without TensorFlow; its defaults are the dataclasses'."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from deeprx_cli import cli\n"
        "for command in ('simulate', 'train', 'distill', 'sweep', 'profile', 'export'):\n"
        "    result = CliRunner().invoke(cli, [command, '--help'])\n"
        "    assert result.exit_code == 0, result.output\n"
        "print(CliRunner().invoke(cli, ['train', '--help']).output)\n"
        "print('tensorflow loaded:', 'tensorflow' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    out = " ".join(out.split())  # help text wraps at any space
    assert "tensorflow loaded: False" in out
    from deeprx_tf.train_config import TrainConfig

    defaults = TrainConfig()
    assert f"--steps INTEGER RANGE [default: {defaults.steps};" in out
    assert "[default: CDL-B,CDL-C,CDL-D,TDL-B,TDL-C,TDL-D]" in out


def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    """Only what a user can fix becomes a one-line error; a plain ValueError is a bug."""
    import link_sim.compare

    def broken(*args, **kwargs):
        raise ValueError("an internal invariant broke")

    monkeypatch.setattr(link_sim.compare, "compare_receivers", broken)
    with pytest.raises(ValueError, match="invariant"):
        main(["simulate", *TINY, *BASELINES, "--out", str(tmp_path / "o")])


def test_simulate_prints_no_tensorflow_start_up_lines(tmp_path):
    import subprocess
    import sys

    argv = [sys.executable, "-c", "from deeprx_cli import main; main()", "simulate", *TINY,
            "--receiver", "lmmse", "--sinr", "20", "--out", str(tmp_path / "o")]
    err = subprocess.run(argv, capture_output=True, text=True, check=True).stderr
    assert not [line for line in err.splitlines() if "cuda" in line.lower() or "absl" in line.lower()], err
    assert err.startswith("scenario:")


@pytest.mark.slow  # .ci/run runs it on every submission, in its pass with the other oneDNN setting
def test_simulate_runs_with_onednn_off_and_decides_as_with_it_on(tmp_path):
    # TensorFlow turns oneDNN on by default only on some CPUs (AVX-512-class); elsewhere the shipped
    # DeepRx used to crash in every graph. Both settings, each in its own process (TensorFlow reads
    # the switch once): the same slots, the same decisions up to float rounding.
    import os
    import subprocess
    import sys

    cli = [sys.executable, "-c", "from deeprx_cli import main; main()"]
    points = {}
    for setting in ("0", "1"):
        env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=setting)
        out = tmp_path / f"onednn_{setting}"
        subprocess.run([*cli, "simulate", *TINY, "--receiver", "deeprx", "--out", str(out / "sim")],
                       env=env, check=True, capture_output=True)
        points[setting] = json.loads((out / "sim" / "results.json").read_text())["receivers"]["deeprx"]["points"]
    for off, on in zip(points["0"], points["1"]):
        assert off["uncoded_bits"] == on["uncoded_bits"] > 0
        # a decision flips only where an LLR is within float rounding of 0
        assert abs(off["uncoded_ber"] - on["uncoded_ber"]) * off["uncoded_bits"] <= 2, (off, on)
    # training in both settings: .ci/run runs the training tests again with the other one


def test_an_output_folder_in_use_is_refused(tmp_path, capsys):
    """A second run into a folder another process holds is refused; the lock dies with its holder."""
    import subprocess
    import sys

    out = tmp_path / "busy"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from link_sim.results import prepare_output_dir\n"
        f"prepare_output_dir({str(out)!r}, (), overwrite=False)\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = run(["simulate", *TINY, *BASELINES, "--out", str(out)], capsys)
        assert code == 2 and "in use by another run" in err and err.count("\n") == 1
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    from link_sim.results import prepare_output_dir

    prepare_output_dir(out, (), overwrite=False)  # killed: the lock went with it


def test_a_refused_training_leaves_nothing_behind(tmp_path, capsys):
    out = tmp_path / "new"
    code, _, err = run(["train", *TINY_TRAIN, "--batch-size", "100000000", "--out", str(out)], capsys)
    assert code == 2 and "too large" in err and "Traceback" not in err
    assert not out.exists()


def _files(tmp_path):
    (tmp_path / "tx2.json").write_text('{"num_tx_ant": 2.0}')
    (tmp_path / "speed.json").write_text('{"speed_mps": "12"}')
    (tmp_path / "filters.json").write_text('{"block_filters": 5}')
    (tmp_path / "wide.csv").write_text("name,kind,number_format,peak_flops,tdp_w\nx,cpu,fp32,1e12," + "9" * 200_000
                                       + "\n")
    (tmp_path / "narrow.csv").write_text("name,peak_flops,tdp_w\nx,1e12,10\n")
    (tmp_path / "inf.csv").write_text("name,kind,number_format,peak_flops,tdp_w\nx,cpu,fp32,inf,10\n")
    (tmp_path / "listed").mkdir()
    (tmp_path / "listed" / "model.json").write_text("[]")
    from deeprx_tf.config import DeepRxConfig
    from link_sim import LinkConfig

    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "model.json").write_text(json.dumps({
        "format": "deeprx-tf/1", "deeprx": DeepRxConfig().scaled(0.0625).to_dict(),
        "link": LinkConfig(num_prb=1).to_dict(), "card": {}}))
    (tmp_path / "corrupt" / "weights.h5").write_bytes(b"not hdf5")


@pytest.mark.parametrize("argv, message", [
    (["train", "--preset", "xinf"], "width multiplier"),
    (["profile", "--preset", "xinf"], "width multiplier"),
    (["sweep", "--student-widths", "inf"], "finite"),
    (["sweep", "--alphas", "nan"], "finite"),
    (["train", "--config", "{tmp}/tx2.json"], "num_tx_ant must be an integer"),
    (["train", "--config", "{tmp}/speed.json"], "speed_mps must be a pair"),
    (["train", "--model-config", "{tmp}/filters.json"], "block_filters"),
    (["train", "--preset", "x0.0625", "--out", "{tmp}/listed"], "not a deeprx-tf checkpoint"),
    (["profile", "--preset", "x0.0625", "--processors", "{tmp}/wide.csv"], "not a readable CSV"),
    (["profile", "--preset", "x0.0625", "--processors", "{tmp}/inf.csv"], "finite"),
    (["profile", "--preset", "x0.0625", "--processors", "{tmp}/narrow.csv"], "lacks the column(s) kind, number_format"),
    (["train", "--lr", "inf"], "--lr"),
    (["distill", "--teacher", "{tmp}/none", "--alpha", "inf"], "--alpha"),
    (["train", "--validation-sinr", "nan,1e300"], "validation_sinr_db"),
    (["train", "--flops", "1e300"], "FLOPs target"),
    (["train", "--seed", "-1"], "--seed"),
    (["train", "--init-from", "{tmp}/corrupt", "--num-prb", "1"], "corrupt"),
    (["distill", "--teacher", "{tmp}/corrupt", "--student-preset", "x0.0625", "--num-prb", "1"], "corrupt"),
])
def test_hostile_input_is_refused_before_any_work(tmp_path, capsys, argv, message):
    _files(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    code, _, err = run(argv, capsys)
    assert code == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written or left behind


def test_a_malformed_tf_config_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    code, _, err = run(["train", *TINY_TRAIN, "--strategy", "multiworker", "--out", str(tmp_path / "o")],
                       capsys)
    assert code == 2 and "TF_CONFIG" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_a_flops_target_on_a_small_grid_says_what_it_picked(tmp_path, capsys):
    code, _, err = run(["train", "--flops", "1e8", "--num-prb", "1", "--steps", "4", "--warmup-steps", "4",
                        "--out", str(tmp_path / "n")], capsys)  # refused after the choice: nothing trains
    assert "--flops 1e+08 per slot of this 12-subcarrier grid" in err and "on the paper's 312 subcarriers" in err


def test_a_warmup_as_long_as_the_run_is_refused_naming_the_option(tmp_path, capsys):
    # without --warmup-steps a short run warms up for a tenth of it (the trained fixture's run)
    code, _, err = run(["train", "--preset", "x0.0625", "--num-prb", "1", "--steps", "4", "--warmup-steps", "4",
                        "--out", str(tmp_path / "n")], capsys)
    assert code == 2 and "--warmup-steps" in err and err.count("\n") == 1
    assert not (tmp_path / "n").exists()
