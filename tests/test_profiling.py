"""Profiling: profiler FLOPs against closed forms, metric (0), lifecycle, base-power method, CLI."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import tf_keras as keras

from deeprx_cli import main
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.model import build_deeprx
from profiling.flops import analytic_conv_flops, count_flops
from profiling.lifecycle import Lifecycle
from profiling.measure import EnergyMeasurement, describe_power_source, isolated_codecarbon, measure_energy
from profiling.processors import Processor, energy_table, paper_processors, read_processors

S, F, C = 14, 12, 4  # a grid whose 12 columns and 14 rows are not multiples of dilation 5 / 3


def one_layer(layer):
    inputs = keras.Input((None, None, C))
    return keras.Model(inputs, layer(inputs))


@pytest.mark.parametrize("layer, closed_form", [
    # Conv2D 3x3, C -> 8: 2 * positions * 3*3*C*8, plus one bias add per output
    (keras.layers.Conv2D(8, 3, padding="same", name="conv"), 2 * S * F * 9 * C * 8 + S * F * 8),
    # depthwise 3x3, multiplier 2: 2 * positions * 3*3*C*2, plus bias
    (keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw"),
     2 * S * F * 9 * C * 2 + S * F * C * 2),
    # separable: depthwise (m = 2) then pointwise 2C -> 8, plus bias
    (keras.layers.SeparableConv2D(8, 3, padding="same", depth_multiplier=2, name="sep"),
     2 * S * F * (9 * C * 2 + 2 * C * 8) + S * F * 8),
    # dilated separable (3, 5): same count as undilated, whatever the space-to-batch padding
    (keras.layers.SeparableConv2D(8, 3, padding="same", depth_multiplier=2, dilation_rate=(3, 5),
                                  name="sep_dilated"),
     2 * S * F * (9 * C * 2 + 2 * C * 8) + S * F * 8),
    (keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, dilation_rate=(3, 5),
                                  name="dw_dilated"),
     2 * S * F * 9 * C * 2 + S * F * C * 2),
])
def test_profiler_flops_equal_closed_forms(layer, closed_form):
    report = count_flops(one_layer(layer), (S, F, C))
    assert report.total_flops == closed_form
    assert report.mismatches() == []
    assert report.input_shape == (1, S, F, C)


def test_dilated_padding_is_removed_not_counted():
    layer = keras.layers.DepthwiseConv2D(3, padding="same", dilation_rate=(3, 5), name="dw")
    report = count_flops(one_layer(layer), (S, F, C))
    (entry,) = report.layers
    assert entry.padding_flops > 0  # the raw profiler count included padding ...
    assert entry.conv_flops == 2 * S * F * 9 * C  # ... which is not in the reported figure
    assert "SpaceToBatchND" in report.zero_ops


@pytest.fixture(scope="module")
def tiny_deeprx():
    return build_deeprx(DeepRxConfig.preset("x0.125"))


def test_deeprx_blocks_sum_to_total_and_match_analytic(tiny_deeprx):
    config = DeepRxConfig.preset("x0.125")
    report = count_flops(tiny_deeprx, (14, 12, 10))
    blocks = report.by_block()
    assert list(blocks) == ["conv_in"] + [f"block_{i}" for i in range(1, 12)] + ["head"]
    assert sum(blocks.values()) == report.total_flops
    assert report.mismatches() == []
    # the profiler's convolution FLOPs are the config's closed form per RE
    assert report.conv_flops == config.flops_per_slot(12)
    assert {"Relu", "FusedBatchNormV3"} <= set(report.zero_ops)


def test_counting_flops_keeps_stderr_quiet(tiny_deeprx, capfd):
    """Freezing the graph runs a grappler session whose absl log lines reach the terminal
    (descriptor 2) past TF_CPP_MIN_LOG_LEVEL: `count_flops` keeps them off it."""
    capfd.readouterr()
    count_flops(tiny_deeprx, (14, 12, 10))
    assert capfd.readouterr().err == ""


def test_flops_scale_linearly_with_prbs(tiny_deeprx):
    totals = [count_flops(tiny_deeprx, (14, 12 * n, 10)).total_flops for n in (1, 2, 3)]
    assert totals[1] == 2 * totals[0] and totals[2] == 3 * totals[0]


def test_analytic_count_needs_no_profiler(tiny_deeprx):
    flops = analytic_conv_flops(tiny_deeprx, (1, 14, 24, 10))
    assert flops["conv_in"] == 2 * 14 * 24 * 9 * 10 * DeepRxConfig.preset("x0.125").conv_in_filters


def test_metric_0_by_hand():
    processors = {p.name: p for p in paper_processors()}
    assert len(processors) == 6
    xeon, tpu = processors["Xeon Gold 5320"], processors["Coral Edge TPU"]
    assert xeon.flops_per_watt == pytest.approx(3.66e12 / 185)
    assert xeon.energy_j(1e9) == pytest.approx(1e9 * 185 / 3.66e12)
    assert tpu.energy_j(10.6e9) == pytest.approx(10.6e9 / 2e12)  # 5.3 mJ
    table = energy_table({"total": 2e9, "block_5": 5e8}, [xeon])
    assert table["Xeon Gold 5320"]["block_5"] == pytest.approx(5e8 * 185 / 3.66e12)
    for p in processors.values():
        assert p.source and p.assumptions


def test_user_processors_from_csv_and_json(tmp_path):
    csv_file = tmp_path / "mine.csv"
    csv_file.write_text("name,kind,number_format,peak_flops,tdp_w,assumptions,source\n"
                        "Jetson,GPU,fp16,2e13,30,sparse,nvidia.com\n")
    (jetson,) = read_processors(csv_file)
    assert jetson.energy_j(2e13) == pytest.approx(30.0)
    json_file = tmp_path / "mine.json"
    json_file.write_text(json.dumps([{"name": "X", "kind": "CPU", "number_format": "fp32",
                                      "peak_flops": 1e12, "tdp_w": 10}]))
    assert read_processors(json_file)[0].flops_per_watt == pytest.approx(1e11)
    json_file.write_text(json.dumps([{"name": "X", "peak_flops": -1}]))
    with pytest.raises(ValueError):
        read_processors(json_file)
    with pytest.raises(ValueError, match="positive"):
        Processor("Y", "CPU", "fp32", 0, 1)


def test_lifecycle_paper_numbers():
    life = Lifecycle.from_steps(20.0, 250_000, 2e-3, inference_rate=400)
    # crossing of E_t/n and E_i n: sqrt(5e6 / 2e-3) = 5e4 inferences, ~2 min at 400/s
    assert life.crossing_inferences == pytest.approx(5e4)
    assert life.crossing_seconds == pytest.approx(125.0)
    assert life.crossing_seconds < 600  # "ten minutes of inference surpass training"
    assert math.log10(life.crossing_inferences) == pytest.approx(5, abs=0.5)  # "about 1e5"
    # total-energy break-even: 2.5e9 inferences, ~72 days at 400/s
    assert life.break_even_inferences == pytest.approx(2.5e9)
    assert life.break_even_seconds / 86400 == pytest.approx(72.3, abs=0.1)
    d = life.to_dict()
    assert d["break_even"]["duration_at_rate"] == "72.3 days"
    n = np.array([life.crossing_inferences])
    assert life.amortized_training_j(n) == pytest.approx(life.cumulated_inference_j(n))


def test_base_power_arithmetic_on_a_scripted_trace():
    m = EnergyMeasurement(idle_powers_w=[10.0, 12.0, 11.0, 50.0, 11.0], absolute_power_w=31.0,
                          duration_s=4.0, count=100)
    assert m.base_power_w == 11.0  # the median ignores the 50 W spike
    assert m.relative_power_w == 20.0
    assert m.relative_energy_j == 80.0
    assert m.energy_per_item_j == 0.8
    assert m.reliable and m.to_dict()["reliable"]
    # a workload below the idle baseline (a busy CPU while idle) is flagged, not a figure
    busy = EnergyMeasurement(idle_powers_w=[30.0, 30.0, 30.0], absolute_power_w=25.0, duration_s=4.0, count=100)
    assert busy.relative_power_w == -5.0 and not busy.reliable
    with pytest.raises(ValueError):
        EnergyMeasurement([], 1.0, 1.0, 1)


def test_codecarbon_config_is_isolated(tmp_path, monkeypatch):
    from codecarbon.core.config import get_hierarchical_config

    monkeypatch.setenv("CODECARBON_PROJECT_NAME", "leak")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".codecarbon.config").write_text("[codecarbon]\nmeasure_power_secs = 99\n")
    assert get_hierarchical_config()["measure_power_secs"] == "99"
    with isolated_codecarbon() as folder:
        assert Path.cwd() == Path(folder).resolve()
        config = get_hierarchical_config()
        assert "project_name" not in config and "measure_power_secs" not in config
    assert os.environ["CODECARBON_PROJECT_NAME"] == "leak"
    assert get_hierarchical_config()["measure_power_secs"] == "99"


def test_measured_energy_says_how_power_was_obtained():
    m = measure_energy(lambda: sum(range(200_000)), count=1, idle_windows=2, idle_window_s=0.2)
    assert m.duration_s > 0 and m.base_power_w > 0
    rapl = Path("/sys/class/powercap/intel-rapl").exists()
    if not rapl:  # as on this project's CI machine: CodeCarbon models the CPU
        assert not m.measured and "modelled" in m.power_source
    assert "RAM: modelled" in m.power_source


def test_power_source_names_measured_and_modelled():
    class CPU:
        def __init__(self, mode):
            self._mode = mode

    class RAM:
        pass

    CPU.__name__, RAM.__name__ = "CPU", "RAM"
    assert describe_power_source([CPU("intel_rapl"), RAM()]) == (
        "CPU: measured (RAPL); RAM: modelled by CodeCarbon (constant per GB)", True)
    text, measured = describe_power_source([CPU("cpu_load")])
    assert not measured and "modelled" in text


def test_profile_cli(tmp_path, capsys):
    out = tmp_path / "prof"
    main(["profile", "--preset", "x0.125", "--num-prb", "1", "--out", str(out)])
    result = json.loads((out / "profile.json").read_text())
    report = count_flops(build_deeprx(DeepRxConfig.preset("x0.125")), (14, 12, 10))
    assert result["flops"]["total_flops"] == report.total_flops
    assert result["flops"]["analytic_mismatches"] == []
    tpu = result["energy_per_inference_j"]["total"]["Coral Edge TPU"]
    assert tpu == pytest.approx(report.total_flops / 2e12)
    assert result["lifecycle"]["inference_energy_j"] == pytest.approx(tpu)
    assert result["lifecycle"]["training_energy_j"] == pytest.approx(20.0 * 250_000)
    for name in ("flops_by_layer.csv", "energy_by_processor.png", "energy_by_block.png", "lifecycle.png"):
        assert (out / name).stat().st_size > 0
    # existing results are kept; bad options are one line with exit code 2
    for argv, message in [
        (["profile", "--preset", "x0.125", "--out", str(out)], "--overwrite"),
        (["profile", "--out", str(tmp_path / "a")], "exactly one"),
        (["profile", "--preset", "x0.125", "--lifecycle-processor", "Abacus", "--out", str(tmp_path / "b")],
         "unknown processor"),
        (["profile", "--checkpoint", str(tmp_path / "none"), "--out", str(tmp_path / "c")], "does not exist"),
    ]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and message in err and err.count("\n") == 1, err


def test_profile_cli_measure(tmp_path):
    out = tmp_path / "prof"
    main(["profile", "--preset", "x0.0625", "--num-prb", "1", "--measure", "--measure-inferences", "5",
          "--measure-steps", "2", "--idle-windows", "1", "--out", str(out)])
    measured = json.loads((out / "profile.json").read_text())["measured"]
    assert set(measured) == {"inference", "training_step"}
    for m in measured.values():
        assert m["count"] in (5, 2) and m["duration_s"] > 0 and m["power_source"]
        assert m["energy_per_item_j"] == pytest.approx(m["relative_energy_j"] / m["count"])
