import json

import pytest

from deeprx_tf.config import DeepRxConfig
from link_sim import CHANNEL_MODELS, LinkConfig


def test_defaults_are_256qam_simo():
    cfg = LinkConfig()
    assert cfg.num_bits_per_symbol == 8
    assert (cfg.num_tx_ant, cfg.num_rx_ant) == (1, 2)
    assert cfg.num_subcarriers == 12 * cfg.num_prb
    cfg.require_256qam()


@pytest.mark.parametrize("mcs, bits", [(0, 2), (4, 2), (5, 4), (10, 4), (11, 6), (19, 6), (20, 8), (27, 8)])
def test_modulation_order_of_table_2(mcs, bits):
    assert LinkConfig(mcs_index=mcs).num_bits_per_symbol == bits


def test_require_256qam_rejects_64qam():
    with pytest.raises(ValueError, match="256-QAM"):
        LinkConfig(mcs_index=15).require_256qam()


@pytest.mark.parametrize("changes, message", [
    ({"channel_model": "CDL-F"}, "unknown channel model"),
    ({"mcs_index": 28}, "mcs_index"),
    ({"num_dmrs_symbols": 3}, "num_dmrs_symbols"),
    ({"num_layers": 2}, "num_layers"),
    ({"num_tx_ant": 3}, "num_tx_ant"),
    ({"speed_mps": (10, 5)}, "min <= max"),
    ({"sinr_db": (0, float("nan"))}, "finite"),
    ({"sir_db": "x"}, "pair"),
    ({"subcarrier_spacing_khz": 60}, "subcarrier_spacing"),
    ({"num_prb": 0}, "num_prb"),
    ({"num_tx_ant": 2.0}, "num_tx_ant must be an integer"),
    ({"num_tx_ant": True}, "num_tx_ant must be an integer"),
    ({"subcarrier_spacing_khz": 30.0}, "subcarrier_spacing_khz must be an integer"),
    ({"speed_mps": "12"}, "speed_mps must be a pair"),
    ({"sinr_db": (True, 30)}, "sinr_db must be a pair"),
    ({"carrier_frequency_hz": True}, "carrier_frequency_hz"),
])
def test_invalid_fields_raise(changes, message):
    with pytest.raises(ValueError, match=message):
        LinkConfig(**changes)


def test_json_round_trip(tmp_path):
    cfg = LinkConfig(channel_model="CDL-D", sir_db=(5, 15), num_tx_ant=2, num_layers=2)
    path = tmp_path / "link.json"
    cfg.to_json(path)
    assert json.loads(path.read_text())["sir_db"] == [5.0, 15.0]
    assert LinkConfig.from_json(path) == cfg


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown link config key"):
        LinkConfig.from_dict({"num_prbs": 4})


def test_from_json_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        LinkConfig.from_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        LinkConfig.from_json(bad)


def test_channel_model_list():
    assert len(CHANNEL_MODELS) == 12 and "UMi" in CHANNEL_MODELS and "AWGN" in CHANNEL_MODELS


@pytest.mark.parametrize("make, message", [
    (lambda: DeepRxConfig(block_filters=5), "block_filters must be a list"),
    (lambda: DeepRxConfig(block_filters=[5.0] * 11), "block_filters must be a non-empty list of positive"),
    (lambda: DeepRxConfig(block_dilations=[[1, True]] * 11), "pairs of integers"),
    (lambda: DeepRxConfig(depth_multiplier=2.0), "depth_multiplier must be a positive integer"),
    (lambda: DeepRxConfig.preset("xinf"), r"width multiplier must be in \(0, 16\]"),
    (lambda: DeepRxConfig.preset("xnan"), "width multiplier"),
    (lambda: DeepRxConfig.for_flops(1e300, num_subcarriers=48), "FLOPs target must be in"),
])
def test_invalid_architectures_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_plans_and_training_refuse_non_finite_numbers():
    from deeprx_tf.train_config import TrainConfig
    from distill.plan import KDPlan

    with pytest.raises(ValueError, match="finite"):
        KDPlan(alphas=(float("nan"),))
    with pytest.raises(ValueError, match="validation_sinr_db"):
        TrainConfig(validation_sinr_db=(float("nan"), 1e300))
