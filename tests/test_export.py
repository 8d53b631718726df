"""TFLite export (float, int8, Edge TPU), the dilation rewrite, and the TFLite receiver."""

import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from sionna.phy import config as sionna_config

from deeprx_tf.checkpoint import load_checkpoint
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.dataset import LinkBatchMaker
from deeprx_tf.edgetpu import EDGETPU_SUPPORTED_OPS, dilated_layers, op_report, undilate, zero_stuff
from deeprx_tf.export import export_deeprx, sidecar_path
from deeprx_tf.flatbuffer import op_name, read_model
from deeprx_tf.fold import fold_batch_norms
from deeprx_tf.litert import TFLiteModel, TFLiteReceiver
from deeprx_tf.losses import masked_bce
from deeprx_tf.model import build_deeprx
from deeprx_tf.qat import CALIBRATION_BATCH_SLOTS, calibrate_activation_ranges, quantize_for_training
from deeprx_tf.receiver import DeepRxReceiver
from deeprx_tf.training import save_deeprx
from link_sim import LinkSimulator, LinkTransmitter

TINY = DeepRxConfig().scaled(0.0625)
#: formats the shared fixture exports; int16x8 (about 20 s) has its own slow test
FIXTURE_FORMATS = ("float", "int8", "edgetpu")


@pytest.fixture(scope="module")
def tiny_model():
    keras.utils.set_random_seed(3)
    model = build_deeprx(TINY)
    # non-trivial batch-norm statistics, so that the folded MUL/ADD ops are exercised
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            mean, var = layer.moving_mean, layer.moving_variance
            mean.assign(np.random.default_rng(0).normal(0, 0.1, mean.shape))
            var.assign(np.random.default_rng(1).uniform(0.5, 2.0, var.shape))
    return model


@pytest.fixture(scope="module")
def exports(tiny_model, tiny_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    return {fmt: (out / f"tiny_{fmt}.tflite",
                  export_deeprx(tiny_model, fmt, out / f"tiny_{fmt}.tflite", tiny_config,
                                num_calibration_slots=16, seed=0))
            for fmt in FIXTURE_FORMATS}


def test_zero_stuffed_kernel():
    kernel = np.arange(9, dtype=np.float32).reshape(3, 3, 1, 1) + 1
    stuffed = zero_stuff(kernel, (2, 3))
    assert stuffed.shape == (5, 7, 1, 1)
    np.testing.assert_array_equal(stuffed[::2, ::3], kernel)
    assert np.count_nonzero(stuffed) == 9


def test_undilated_model_matches_the_original(tiny_model):
    rewritten = undilate(tiny_model)
    assert dilated_layers(tiny_model) and not dilated_layers(rewritten)
    assert rewritten.get_layer("block_6/depthwise_1").kernel_size == (7, 13)  # (3, 6) dilation
    x = np.random.default_rng(0).normal(size=(3, 14, 24, TINY.num_input_channels)).astype(np.float32)
    np.testing.assert_allclose(rewritten(x).numpy(), tiny_model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_int8_exports_are_int8_end_to_end(exports):
    for fmt in ("int8", "edgetpu"):
        path, info = exports[fmt]
        assert info["input"]["dtype"] == "int8" and info["output"]["dtype"] == "int8"
        assert info["input"]["scale"] > 0 and info["output"]["scale"] > 0
        report = op_report(path.read_bytes())
        for op in report["ops"]:
            assert not op["op"].startswith("CUSTOM"), op
            assert set(op["output_types"]) == {"INT8"}, op
        assert json.loads(sidecar_path(path).read_text())["input"] == info["input"]
    assert exports["float"][1]["input"]["dtype"] == "float32"


def test_exports_run_the_batch_norm_folded_graph(exports, tiny_model):
    num_norms = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in tiny_model.layers)
    for fmt in FIXTURE_FORMATS:
        path, info = exports[fmt]
        fold = info["batch_norm_fold"]
        assert len(fold["into_convolutions"]) == len(TINY.block_filters)  # each block's bn_2
        assert len(fold["into_convolutions"]) + len(fold["as_depthwise"]) == num_norms
        assert fold["max_abs_diff"] <= 1e-5 * fold["max_abs_logit"]
        # a BN with its ReLU is at most one op: no MUL, and ADD only for the residual sums
        counts = op_report(path.read_bytes())["op_counts"]
        assert "MUL" not in counts and counts["ADD"] == len(TINY.block_filters), (fmt, counts)


def test_edgetpu_graph_is_all_mappable(exports):
    plain = op_report(exports["int8"][0].read_bytes())
    # the plain int8 graph keeps DeepRx's anisotropic dilations: not all-Edge-TPU
    assert not plain["all_mappable"]
    assert any("anisotropic" in p for op in plain["ops"] for p in op["problems"])
    path, info = exports["edgetpu"]
    report = op_report(path.read_bytes())
    assert report["all_mappable"] and report["num_mappable"] == report["num_ops"]
    assert not {"SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"} & set(report["op_counts"])
    assert set(report["op_counts"]) <= EDGETPU_SUPPORTED_OPS
    assert all(op["dilation"][0] == op["dilation"][1] for op in report["ops"] if "dilation" in op)
    assert info["dilation_rewrite"]["max_abs_diff"] <= 1e-5 * info["dilation_rewrite"]["max_abs_logit"]
    # the calibrated ranges carried over the rewrite (`quantize_rewritten`)
    assert info["dilation_rewrite"]["fake_quant_sign_agreement"] >= 0.999
    int8 = TFLiteModel(exports["int8"][0])
    features = np.random.default_rng(0).normal(size=(2, 14, 12, TINY.num_input_channels)).astype(np.float32)
    assert np.mean(np.sign(TFLiteModel(path).predict(features)) == np.sign(int8.predict(features))) > 0.99
    assert "available" in info["edgetpu_compiler"]


def _depthwise_multipliers(tflite: bytes) -> list[int]:
    """The depth multiplier (from the shapes, as LiteRT reads it) of each DEPTHWISE_CONV_2D of a file."""
    model = read_model(tflite)
    subgraph = model.subgraphs[0]
    return [int(subgraph.tensors[op.inputs[1]].shape[-1]) // int(subgraph.tensors[op.inputs[0]].shape[-1])
            for op in subgraph.operators if op_name(model, op) == "DEPTHWISE_CONV_2D"]


def test_exported_depthwise_convolutions_have_unit_multipliers(exports):
    blocks = len(TINY.block_filters)
    for fmt in FIXTURE_FORMATS:
        path, info = exports[fmt]
        # both depthwise convolutions of each block (depth multiplier 2) as a repeat and multiplier 1
        assert TINY.depth_multiplier == 2 and info["depth_multiplier_rewrite"]["rewritten"] == 2 * blocks
        assert info["depth_multiplier_rewrite"]["kept"] == 0
        assert set(_depthwise_multipliers(path.read_bytes())) == {1}, fmt
        assert op_report(path.read_bytes())["op_counts"]["CONCATENATION"] == 2 * blocks
    assert exports["float"][1]["depth_multiplier_rewrite"]["max_abs_diff"] > 0  # float: another summation order
    for fmt in ("int8", "edgetpu"):
        assert exports[fmt][1]["depth_multiplier_rewrite"]["max_abs_diff"] == 0, fmt  # int8: bit for bit


@pytest.mark.parametrize("fmt", ["float", "int8"])
def test_the_depth_multiplier_rewrite_keeps_the_function(fmt):
    """On a graph of its own: the file's integer (or float) outputs before and after, and a depthwise
    convolution that an ADD reads (which cannot take the new channel order) left as it is."""
    from ai_edge_litert.interpreter import Interpreter

    from deeprx_tf.depthwise import unit_depth_multipliers
    from deeprx_tf.export import convert_to_tflite

    keras.utils.set_random_seed(5)
    x = inputs = keras.Input((4, 6, 3))
    x = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=3, dilation_rate=(1, 2),
                                     activation="relu")(x)
    x = keras.layers.Conv2D(5, 1)(x)
    y = keras.layers.DepthwiseConv2D(1, depth_multiplier=2)(x)  # read by the ADD: kept
    model = keras.Model(inputs, keras.layers.Add()([y, keras.layers.Conv2D(10, 1)(x)]))
    features = np.random.default_rng(0).normal(size=(8, 4, 6, 3)).astype(np.float32)
    before = convert_to_tflite(model, fmt, (4, 6), features)
    after, info = unit_depth_multipliers(before)
    assert info == {"rewritten": 1, "kept": 1}
    assert _depthwise_multipliers(before) == [3, 2] and _depthwise_multipliers(after) == [1, 2]

    def outputs(tflite):
        interpreter = Interpreter(model_content=tflite)
        interpreter.allocate_tensors()
        (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
        values = []
        for slot in features:
            if fmt == "int8":
                scale, zero = inp["quantization"]
                slot = np.clip(np.round(slot / scale) + zero, -128, 127).astype(np.int8)
            interpreter.set_tensor(inp["index"], slot[None])
            interpreter.invoke()
            values.append(interpreter.get_tensor(out["index"]).copy())
        return np.stack(values)

    if fmt == "int8":
        np.testing.assert_array_equal(outputs(after), outputs(before))
    else:
        np.testing.assert_allclose(outputs(after), outputs(before), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(outputs(after)[:, 0], model.predict(features, verbose=0), rtol=1e-4,
                                   atol=1e-4)
    assert unit_depth_multipliers(after) == (after, {"rewritten": 0, "kept": 1})  # nothing left to do
    # the reordered weights replace the old ones: no buffer of data is left that no tensor reads
    rewritten = read_model(after)
    read = ({tensor.buffer for tensor in rewritten.subgraphs[0].tensors}
            | {entry.buffer for entry in rewritten.metadata or []})  # the converter's metadata
    assert all(index in read for index, buffer in enumerate(rewritten.buffers)
               if buffer.data is not None and len(buffer.data))


def llr_sign_agreement(tflite_paths: dict, model, link_config) -> dict:
    """Share of LLR signs each ``.tflite`` receiver shares with the Keras ``model`` on a fixed batch."""
    sim = LinkSimulator(link_config, "perfect-csi")
    sionna_config.seed = 7
    y = sim.transmit(8, 25.0).y
    keras_llr = DeepRxReceiver(sim.transmitter, model).compute_llr(y).numpy()
    agreement = {}
    for fmt, path in tflite_paths.items():
        llr = TFLiteReceiver(sim.transmitter, path).compute_llr(y).numpy()
        assert llr.shape == keras_llr.shape
        agreement[fmt] = np.mean(np.sign(llr) == np.sign(keras_llr))
    return agreement


def test_tflite_receiver_agrees_with_keras(exports, tiny_model, tiny_config):
    agreement = llr_sign_agreement({fmt: path for fmt, (path, _) in exports.items()}, tiny_model, tiny_config)
    assert agreement["float"] > 0.999
    assert agreement["int8"] > 0.9 and agreement["edgetpu"] > 0.9, agreement


def test_optional_inputs_travel_with_the_file(tiny_config, tmp_path):
    config = DeepRxConfig(noise_input=True, ls_interpolation="lin").scaled(0.0625)
    keras.utils.set_random_seed(5)
    model = build_deeprx(config)
    path = tmp_path / "inputs.tflite"
    with pytest.raises(ValueError, match="input channels"):  # a model without its config: refused before work
        export_deeprx(keras.models.clone_model(model), "float", path, tiny_config)
    info = export_deeprx(model, "float", path, tiny_config)  # the model carries its config
    assert info["inputs"] == {"noise_input": True, "ls_interpolation": "lin", "equalized_input": False}
    assert TFLiteModel(path).inputs == info["inputs"]
    TFLiteModel(path).check_fits_scenario(tiny_config)
    sionna_config.seed = 2
    simulator = LinkSimulator(tiny_config, "lmmse")
    batch = simulator.transmit(4, 25.0)
    keras_llr = DeepRxReceiver(simulator.transmitter, model, config=config).compute_llr(batch.y, batch.no)
    tflite_llr = TFLiteReceiver(simulator.transmitter, path).compute_llr(batch.y, batch.no)
    np.testing.assert_allclose(tflite_llr.numpy(), keras_llr.numpy(), atol=1e-3 * np.abs(keras_llr).max())


@pytest.mark.slow
def test_int16x8_export_is_int16_end_to_end_and_finer_than_int8(exports, tiny_model, tiny_config, tmp_path):
    info = export_deeprx(tiny_model, "int16x8", tmp_path / "tiny_int16x8.tflite", tiny_config,
                         num_calibration_slots=16, seed=0)
    assert info["input"]["dtype"] == "int16" and info["output"]["dtype"] == "int16"
    agreement = llr_sign_agreement({"int8": exports["int8"][0], "int16x8": tmp_path / "tiny_int16x8.tflite"},
                                   tiny_model, tiny_config)
    assert agreement["int16x8"] >= agreement["int8"], agreement  # finer activations


def test_tflite_model_rejects_other_grids_and_bad_files(exports, tiny_config, tmp_path):
    path = exports["float"][0]
    with pytest.raises(ValueError, match="exported for a 14 x 12 grid"):
        TFLiteReceiver(LinkTransmitter(tiny_config.replace(num_prb=2)), path)
    with pytest.raises(ValueError, match="grid"):
        TFLiteModel(path).check_fits_scenario(tiny_config.replace(num_prb=2))
    with pytest.raises(FileNotFoundError):
        TFLiteModel(path.with_name("missing.tflite"))
    (tmp_path / "bad.tflite").write_text("not a flatbuffer")
    with pytest.raises(ValueError, match="not a valid .tflite"):
        TFLiteModel(tmp_path / "bad.tflite")


def test_tflite_receiver_refuses_xla_in_one_line(exports, tiny_config):
    sim = LinkSimulator(tiny_config, "lmmse")
    rx = TFLiteReceiver(sim.transmitter, exports["float"][0])
    y = sim.transmit(1, 20.0).y
    with pytest.raises(ValueError, match="cannot be compiled with XLA") as exc:
        tf.function(rx.compute_llr, jit_compile=True)(y)
    assert "\n" not in str(exc.value)
    assert tf.function(rx.compute_llr)(y).shape == rx.compute_llr(y).shape  # graph mode runs


def test_a_refused_receiver_leaves_the_transmitter_working(exports, tiny_model, tiny_config):
    # Sionna's own PUSCHReceiver and DeepRx, each in a traced link; the TFLite receiver refused in an
    # XLA trace, after the transmitter ran in it; then DeepRx eagerly and traced again. The refused
    # trace used to leave the transmitter's CRC matrix a constant of a dead graph ("out of scope").
    from sionna.phy.nr import PUSCHReceiver
    from sionna.phy.utils import sim_ber

    sim = LinkSimulator(tiny_config, "lmmse")
    tx = sim.transmitter

    def link(rx):
        def mc(batch_size, ebno_db):
            batch = sim.transmit(batch_size, ebno_db)
            return batch.b, rx(batch.y, batch.no)
        return mc

    def simulate(rx, graph_mode="graph"):
        return sim_ber(link(rx), [30.0], batch_size=2, max_mc_iter=1, graph_mode=graph_mode, verbose=False)

    simulate(PUSCHReceiver(tx))
    simulate(DeepRxReceiver(tx, tiny_model))
    with pytest.raises(ValueError, match="cannot be compiled with XLA"):
        simulate(TFLiteReceiver(tx, exports["float"][0]), "xla")
    x, b = tx(1)
    batch = sim.transmit(1, 30.0)
    assert DeepRxReceiver(tx, tiny_model)(batch.y, batch.no).shape == b.shape
    ber, _ = simulate(DeepRxReceiver(tx, tiny_model))
    assert 0.0 <= float(ber[0]) <= 1.0


def test_the_shipped_keras_model_exports_with_its_inputs(tiny_config, tmp_path):
    # the Keras model alone carries its configuration: the export records its optional inputs,
    # and the file's receiver computes them
    shipped = load_checkpoint("default")
    info = export_deeprx(shipped.model, "float", tmp_path / "m.tflite", tiny_config)
    assert info["inputs"] == shipped.config.feature_options() and info["inputs"]["equalized_input"]
    sim = LinkSimulator(tiny_config, "lmmse")
    batch = sim.transmit(2, 30.0)
    llr = TFLiteReceiver(sim.transmitter, tmp_path / "m.tflite").compute_llr(batch.y, batch.no)
    reference = DeepRxReceiver(sim.transmitter, shipped.model).compute_llr(batch.y, batch.no)
    np.testing.assert_allclose(llr.numpy(), reference.numpy(), rtol=1e-3, atol=1e-3 * np.abs(reference).max())


def test_export_refuses_to_clobber(exports, tiny_model, tiny_config):
    path = exports["float"][0]
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_deeprx(tiny_model, "float", path, tiny_config)
    with pytest.raises(ValueError, match="format"):
        export_deeprx(tiny_model, "int4", path.with_name("x.tflite"), tiny_config)
    assert path.read_bytes() == before


def test_qat_checkpoint_round_trip_and_int8_export(tiny_config, tmp_path):
    keras.utils.set_random_seed(0)
    model = build_deeprx(TINY)
    qat = quantize_for_training(model)
    sionna_config.seed = 0
    features, target = (t.numpy() for t in LinkBatchMaker(tiny_config)(8, 25.0))
    calibrate_activation_ranges(qat, model, [features])  # as deeprx train --qat does
    qat.compile(keras.optimizers.Adam(3e-3), loss=masked_bce)
    qat.fit(features, target, batch_size=4, epochs=3, verbose=0)
    save_deeprx(tmp_path / "ck", model, TINY, tiny_config, {"qat": True}, qat)
    loaded = load_checkpoint(tmp_path / "ck")
    assert loaded.qat_model is not None
    np.testing.assert_allclose(loaded.qat_model(features).numpy(), qat(features).numpy(), atol=1e-5)
    # weights.h5 holds the QAT model's float weights, trained in the folded graph
    qat_weights = {w.name: w.numpy() for w in qat.weights}
    for weight in fold_batch_norms(loaded.model).weights:
        np.testing.assert_allclose(weight.numpy(), qat_weights[weight.name], rtol=1e-5, atol=1e-6)
    # batch-mean quantizes the float weights anew; learned converts the QAT model
    references = {"batch-mean": loaded.model(features).numpy(), "learned": qat(features).numpy()}
    for calibration, reference in references.items():
        path = tmp_path / f"qat_{calibration}.tflite"
        info = export_deeprx(loaded.model, "int8", path, tiny_config, num_calibration_slots=8,
                             qat_model=loaded.qat_model, calibration=calibration)
        assert info["quantization"] == "quantization-aware training"
        assert info["calibration"]["ranges"] == {"learned": "learned (QAT)"}.get(calibration, calibration)
        ops = op_report(path.read_bytes())["ops"]
        assert all(set(op["output_types"]) == {"INT8"} for op in ops)
        logits = TFLiteModel(path).predict(features)
        assert np.mean(np.sign(logits) == np.sign(reference)) > 0.9, calibration
    # the Edge TPU graph carries the learned QAT state over the dilation rewrite
    info = export_deeprx(loaded.model, "edgetpu", tmp_path / "qat_etpu.tflite", tiny_config,
                         num_calibration_slots=8, qat_model=loaded.qat_model, calibration="learned")
    assert info["quantization"] == "quantization-aware training"
    assert info["dilation_rewrite"]["fake_quant_sign_agreement"] >= 0.999
    assert info["edgetpu_op_report"]["num_mappable"] == info["edgetpu_op_report"]["num_ops"]
    etpu_logits = TFLiteModel(tmp_path / "qat_etpu.tflite").predict(features)
    assert np.mean(np.sign(etpu_logits) == np.sign(logits)) > 0.99
    with pytest.raises(ValueError, match="learned needs a quantization-aware-trained"):
        export_deeprx(loaded.model, "int8", tmp_path / "x.tflite", tiny_config, calibration="learned")


def test_calibrated_qat_model_starts_from_the_float_ranges(tiny_model, tiny_config):
    qat = quantize_for_training(tiny_model)
    sionna_config.seed = 0
    features = LinkBatchMaker(tiny_config)(8, 25.0)[0].numpy()
    batches = [features[:4], features[4:]]
    assigned = calibrate_activation_ranges(qat, tiny_model, batches)
    # every activation range: the fixed point of tfmot's moving average over these batches
    logits = [tiny_model(b).numpy() for b in batches]
    np.testing.assert_allclose(assigned["head/logits"], (np.mean([min(x.min(), 0) for x in logits]),
                                                         np.mean([max(x.max(), 0) for x in logits])),
                               rtol=1e-5)
    assert assigned["block_1/bn_1"][0] == 0.0  # folded into a depthwise with relu_1 fused
    assert assigned["features"] == (min(features.min(), 0), max(features.max(), 0))
    quantized = {layer.layer.name for layer in qat.layers if hasattr(layer, "layer")}
    assert quantized <= set(assigned)  # no quantized layer left at tfmot's [-6, 6]
    assert "BatchNormalization" not in {type(layer.layer).__name__ for layer in qat.layers
                                        if hasattr(layer, "layer")}
    # so the fake-quantized model starts close to the float one, far closer than tfmot's start
    reference = tiny_model(features).numpy()
    error = np.linalg.norm(qat(features).numpy() - reference) / np.linalg.norm(reference)
    fresh = quantize_for_training(tiny_model)
    fresh(features, training=True)  # weight ranges set, activation ranges still near [-6, 6]
    fresh_error = np.linalg.norm(fresh(features).numpy() - reference) / np.linalg.norm(reference)
    assert error < 0.1 and error < fresh_error / 2


def test_int8_calibration_methods(exports, tiny_model, tiny_config, tmp_path):
    batch_mean = exports["int8"][1]
    assert batch_mean["calibration"]["ranges"] == "batch-mean"
    assert batch_mean["calibration"]["batch_slots"] == CALIBRATION_BATCH_SLOTS
    minmax = export_deeprx(tiny_model, "int8", tmp_path / "minmax.tflite", tiny_config,
                           num_calibration_slots=16, seed=0, calibration="minmax")
    assert minmax["calibration"]["ranges"] == "minmax"
    # same slots: the input's range is their extremes either way; a mean of per-batch
    # extremes is narrower than the extremes over all slots
    assert batch_mean["input"]["scale"] == pytest.approx(minmax["input"]["scale"], rel=1e-3)
    assert batch_mean["output"]["scale"] < minmax["output"]["scale"]
    with pytest.raises(ValueError, match="unknown calibration"):
        export_deeprx(tiny_model, "int8", tmp_path / "x.tflite", tiny_config, calibration="percentile")


def test_the_format_table_is_what_the_exporter_and_the_command_read():
    from click.testing import CliRunner

    from deeprx_cli import cli
    from deeprx_tf.formats import DEFAULT_EXPORT_FORMAT, EXPORT_FORMATS, FORMATS, export_format

    assert EXPORT_FORMATS == ("float", "int8", "int16x8", "edgetpu") and DEFAULT_EXPORT_FORMAT == "int8"
    assert [f.name for f in FORMATS if f.undilate] == ["edgetpu"]
    assert not export_format("float").quantized and export_format("int16x8").io_type == "int16"
    with pytest.raises(ValueError, match="choose from float, int8, int16x8, edgetpu"):
        export_format("int4")
    help_text = " ".join(CliRunner().invoke(cli, ["export", "--help"]).output.split())
    assert "[default: int8]" in help_text
    for spec in FORMATS:
        assert f"{spec.name}: {' '.join(spec.description.split())}" in help_text
