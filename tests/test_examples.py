"""Every script in examples/ runs, at a tiny size, so none rots."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


def example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sionna_drop_in():
    results = example("sionna_drop_in").main(["--batch-size", "4", "--batches", "1", "--sinr", "25"])
    assert set(results) == {"Sionna PUSCHReceiver (LS + LMMSE)", "DeepRxReceiver (shipped)"}
    for per_sinr in results.values():
        assert 0 <= per_sinr[25.0]["coded_ber"] <= 1


def test_sim_ber_with_sionna(tmp_path):
    out = tmp_path / "ber.png"
    example("sim_ber_with_sionna").main(["--out", str(out), "--num-prb", "1", "--batch-size", "4",
                                         "--max-mc-iter", "1", "--sinr", "20:30:10"])
    assert out.stat().st_size > 1000


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("examples") / "small"
    report = example("train_small_deeprx").main(
        ["--out", str(out), "--width", "0.0625", "--steps", "4", "--num-prb", "1", "--channels", "TDL-C",
         "--sinr", "20", "--slots", "4"])
    return out, report


def test_train_small_deeprx(small_checkpoint):
    out, report = small_checkpoint
    assert set(report["receivers"]) == {"lmmse", "deeprx"}
    assert (out / "model.json").is_file()


def test_profile_deeprx():
    result = example("profile_deeprx").main(["--preset", "x0.0625", "--num-prb", "1"])
    assert result["flops"]["total_flops"] > 0 and not result["flops"]["analytic_mismatches"]
    assert result["energy_j"]["Coral Edge TPU"]["total"] > 0


def test_export_tflite_in_link(small_checkpoint, tmp_path):
    checkpoint, _ = small_checkpoint
    result = example("export_tflite_in_link").main(
        ["--out", str(tmp_path / "x.tflite"), "--checkpoint", str(checkpoint), "--calibration-slots", "4",
         "--sinr", "25", "--slots", "4"])
    assert set(result["receivers"]) == {"keras", "tflite int8"}


def test_learning_curves_and_validate_checkpoints(small_checkpoint, tmp_path):
    checkpoint, _ = small_checkpoint
    curves = example("learning_curves").main([str(checkpoint), "--out", str(tmp_path / "c.png")])
    assert curves["small"]["slots"][-1] == 4 * 16 and (tmp_path / "c.png").stat().st_size > 1000
    report = example("validate_checkpoints").main(
        [str(checkpoint), "--out", str(tmp_path / "v.json"), "--sinr", "20", "--slots", "2",
         "--channels", "TDL-A"])
    assert set(report["checkpoints"]["small"]) == {"dmrs1", "dmrs2"}
