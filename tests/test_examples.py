"""Every script in examples/ runs, at a tiny size, so none rots."""

import importlib.util
import json
from pathlib import Path

import pytest

from deeprx_tf.config import DeepRxConfig

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


@pytest.mark.slow  # export and the TFLite receiver in a link: tests/test_export.py and test_cli.py
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
         "--channels", "TDL-A", "--num-prb", "2"])  # trained on 1 PRB, validated on 2
    assert set(report["checkpoints"]["small"]) == {"dmrs1", "dmrs2"} and report["num_prb"] == 2


def test_batch_norm_by_dmrs_validates_as_saved_and_with_statistics(small_checkpoint, tmp_path):
    from deeprx_tf.batch_norm import BatchNormStatistics, statistics_features
    from deeprx_tf.checkpoint import load_checkpoint
    from deeprx_tf.dataset import validation_sets
    from deeprx_tf.training import ValidationGeometricMeanBER

    checkpoint, _ = small_checkpoint
    report = example("batch_norm_by_dmrs").main([str(checkpoint), "--out", str(tmp_path / "b.json"),
                                                 "--slots", "16", "--seed", "4", "--validation-slots", "4"])
    entry = report["checkpoints"]["small"]
    assert set(entry) == {"dmrs1", "dmrs2"} and set(entry["dmrs1"]) == {"saved", "reestimated"}
    # "reestimated" is the library's statistics of those slots; "saved" the weights' own
    loaded = load_checkpoint(checkpoint)
    stats = BatchNormStatistics.estimate(loaded.model, statistics_features(loaded.link_config, (1, 2), 16, seed=4,
                                                                           model_config=loaded.config))
    sets = validation_sets(loaded.link_config, (5.0, 15.0, 25.0, 35.0), 4, seed=1, dmrs_symbols=(2,),
                           model_config=loaded.config)
    assert entry["dmrs2"]["reestimated"] == ValidationGeometricMeanBER(sets).evaluate(stats.model_for(loaded.model, 2))
    assert entry["dmrs2"]["saved"] == ValidationGeometricMeanBER(sets).evaluate(loaded.model)
    assert entry["dmrs2"]["saved"] != entry["dmrs2"]["reestimated"]


def test_batch_norm_by_channel_validates_with_pooled_and_own_statistics(small_checkpoint, tmp_path):
    from deeprx_tf.checkpoint import load_checkpoint
    from deeprx_tf.dataset import validation_sets
    from deeprx_tf.training import ValidationGeometricMeanBER

    checkpoint, _ = small_checkpoint
    report = example("batch_norm_by_channel").main(["--checkpoint", str(checkpoint), "--channels", "TDL-A",
                                                    "--out", str(tmp_path / "c.json"), "--slots", "16",
                                                    "--validation-slots", "4"])
    entry = report["channel_models"]["TDL-A"]
    loaded = load_checkpoint(checkpoint)
    assert loaded.batch_norm_statistics is not None  # "pooled" is the statistics the link gets
    sets = validation_sets(loaded.link_config, (5.0, 15.0, 25.0, 35.0), 4, seed=1, channel_models=("TDL-A",),
                           dmrs_symbols=(1,), model_config=loaded.config)
    assert entry["pooled"] == ValidationGeometricMeanBER(sets).evaluate(loaded.model_for(1))
    assert entry["own_channel"] != entry["pooled"]


def test_ber_by_symbol_counts_every_coded_bit_once(tmp_path):
    from sionna.phy import config as sionna_config

    from link_sim import LinkConfig, LinkSimulator

    report = example("ber_by_symbol").main(["--out", str(tmp_path / "s.json"), "--slots", "8", "--sinr", "10"])
    ls = report["uncoded_ber_by_symbol"]["LS+LMMSE"]
    assert len(ls) == 14 and report["symbols_without_data"] == [s for s, b in enumerate(ls) if b is None]
    assert set(report["uncoded_ber_by_symbol"]) == {"LS+LMMSE", "perfect CSI", "DeepRx default"}
    # per symbol and summed back, the same errors as the link's own count on the same slots
    sionna_config.seed = 0
    counts = LinkSimulator(LinkConfig(num_dmrs_symbols=1), "lmmse").count_errors(8, 10.0)
    assert sum(report["bits_per_symbol"]) == float(counts["uncoded_bits"])
    assert report["uncoded_ber"]["LS+LMMSE"] == pytest.approx(
        float(counts["uncoded_bit_errors"]) / float(counts["uncoded_bits"]))


@pytest.mark.slow
def test_reproduce_paper_tiny_budget_and_resume(tmp_path):
    out = tmp_path / "repro"
    summary = example("reproduce_paper").main(["--budget", "tiny", "--out", str(out)])
    items = summary["items"]
    assert set(items) == {"fig1", "fig2", "lifecycle", "fig3", "fig4", "table_iii", "fig5", "fig6", "kd_capacity"}
    for item in items.values():
        for name in [item["file"]] if "file" in item else item["files"]:
            assert (out / name).stat().st_size > 1000
    assert items["fig4"]["best_teacher"] == "default" and items["fig6"]["seeds"] == [0, 1]
    # widths are fractions of the paper's filters, with the shipped teacher's inputs
    architecture = json.loads((out / "architecture.json").read_text())
    assert architecture["block_filters"] == list(DeepRxConfig().block_filters) and architecture["equalized_input"]
    assert [r["kd_reduction"] for r in items["table_iii"]["rows"]] == ["mean", "sum"]
    best = items["table_iii"]["best_kd_reduction"]
    runs = {p.name for p in (out / "kd_sweep" / "runs").iterdir()}
    assert {"kd_x0.03125_from_default_a1_T3", "kd_x0.03125_from_default_a1_T3_sum"} <= runs
    # a shipped teacher is recorded by its name, not by where this machine installed it
    card = json.loads((out / "kd_sweep" / "runs" / "kd_x0.03125_from_default_a1_T3" / "model.json").read_text())
    assert card["card"]["distillation"]["teacher"] == "default"
    assert "kd_x0.03125_from_default_a1_T3" + ("_sum" if best == "sum" else "") + "_seed1" in runs
    # KD where it can show: scratch, KD from the shipped model and from the perfect-CSI receiver, two
    # seeds each; steps 2-3's KD run is the final step's seed 0
    capacity = {p.name for p in (out / "kd_capacity" / "runs").iterdir()}
    assert capacity == {"scratch_x0.03125", "scratch_x0.03125_seed1", "kd_x0.03125_from_default_a1_T1",
                        "kd_x0.03125_from_default_a1_T1_seed1", "kd_x0.03125_from_perfect-csi_a1",
                        "kd_x0.03125_from_perfect-csi_a1_seed1"}
    assert items["kd_capacity"]["target_ber"] == {"1": 5e-2} and "perfect_csi" in items["kd_capacity"]["dmrs"]["1"]
    assert len(summary["commands"]) == 3
    # a second run resumes: nothing retrains, the numbers are the same; the finished first sweep is
    # kept, so a model shipped as default since (its pinned teacher digest differs) does not stop it
    stamps = {p: p.stat().st_mtime_ns for p in (out / "kd_sweep" / "runs").glob("*/weights.h5")}
    pinned = out / "kd_sweep" / "experiment.json"
    settings = json.loads(pinned.read_text())
    settings["teachers"] = {name: "0" * 16 for name in settings["teachers"]}
    pinned.write_text(json.dumps(settings))
    again = example("reproduce_paper").main(["--budget", "tiny", "--out", str(out)])
    assert stamps == {p: p.stat().st_mtime_ns for p in stamps}
    assert again["items"]["fig6"] == items["fig6"]
    # and from scratch in another folder, the same seeds and budget retrain to the same numbers
    fresh = example("reproduce_paper").main(["--budget", "tiny", "--out", str(tmp_path / "again")])
    assert fresh["items"] == items
