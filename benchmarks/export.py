"""BER and per-slot latency of the deployed DeepRx: Keras float vs TFLite float, int8 and Edge TPU graph.

One run exports the shipped default model (or --checkpoint) with
`deeprx_tf.export` to float, int8 and edgetpu ``.tflite`` files, then
measures on the CPU, for the Keras model and each file:

- the Keras float model fed int8-quantized inputs (row
  keras_float_int8_input) and the Keras model with its convolution kernels
  rounded to int8 as the converter does (row keras_int8_weights): how much
  of int8's loss the input resolution and the weights alone explain (the
  rest is the int8 activations inside the network);
- int8 with the TFLite converter's own calibration (row tflite_int8_minmax:
  each range the min and max over all calibration slots) next to the
  default batch-mean ranges (`deeprx_tf.qat.calibrated_for_int8`);
- with --qat-checkpoint (a `deeprx train --qat` fine-tune of the same
  model), its int8 and edgetpu exports too (default batch-mean ranges;
  row tflite_int8_qat_learned: the ranges QAT learned), and its own Keras
  float model (row keras_float_qat: how much is more training rather than
  robustness to int8), against the same Keras float reference;
- latency per slot at batch 1 (best of --repeats rounds over the same
  slots; the ratio is against the Keras float model measured in the same
  run; the Keras model's batched throughput is recorded too), also of the
  float and int8 files as the converter writes them, their depthwise
  convolutions of depth multiplier 2 kept (rows ..._depth_multiplier_kept:
  what `deeprx_tf.depthwise`'s rewrite saves);
- uncoded BER, coded BER and BLER at three SINR points of the checkpoint's
  scenario through the full link (`TFLiteReceiver` vs `DeepRxReceiver`),
  same seed for all, and each file's SINR loss against Keras float at the
  BER it reaches (log-linear interpolation on the float curve), plus the
  gap at uncoded and at coded BER 1e-2 where both curves reach it;
- the gap at coded BER 1e-2 again on a denser grid around it (--gap-sinr,
  --gap-slots per point; Keras float against the int8 files and the QAT
  checkpoint's float model; edgetpu is int8 bit for bit), read two ways:
  where each curve crosses 1e-2, and the shift of parallel least-squares
  lines through all its points
  (`link_sim.metrics.sinr_shift_db`), which a flat (floor-like) curve's
  Monte-Carlo noise moves less.

    python benchmarks/export.py [--checkpoint DIR] [--qat-checkpoint DIR] [--sinr 20,25,30] [--slots 256]
                                [--gap-sinr 19:23:1] [--gap-slots 512]
"""

from __future__ import annotations

import link_sim  # noqa: F401  (first: its package prepares TensorFlow's environment)

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras as keras

from deeprx_tf.checkpoint import load_checkpoint
from deeprx_tf.export import EXPORT_FORMATS, calibration_features, export_deeprx
from deeprx_tf.litert import TFLiteModel, TFLiteReceiver
from deeprx_tf.receiver import DeepRxReceiver
from deeprx_tf.shipped import shipped_checkpoint
from link_sim.compare import compare_receivers
from link_sim.metrics import TargetNotReached, sinr_at_ber, sinr_gain_at_ber, sinr_shift_db
from link_sim.sweep import parse_sinr_grid
from _common import RESULTS_DIR, write_result


class InputQuantized:
    """The Keras model fed int8-quantized inputs (the int8 export's input scale and zero point):
    how much of int8's loss the input resolution alone explains."""

    def __init__(self, model, scale: float, zero_point: int):
        self.model, self.scale, self.zero_point = model, scale, zero_point
        self.input_shape, self.output_shape = model.input_shape, model.output_shape

    def __call__(self, features, training=False):
        q = tf.clip_by_value(tf.round(features / self.scale) + self.zero_point, -128.0, 127.0)
        return self.model((q - self.zero_point) * self.scale, training=False)


def int8_weights(model):
    """A copy of ``model`` whose convolution kernels are rounded to int8 as TFLite's int8 formats do
    (symmetric, one scale per output channel), everything else float."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for layer in copy.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):  # [kh, kw, in, multiplier]
            kernel, axes = layer.depthwise_kernel, (0, 1)
        elif isinstance(layer, keras.layers.Conv2D):  # [kh, kw, in, out]
            kernel, axes = layer.kernel, (0, 1, 2)
        else:
            continue
        k = kernel.numpy()
        scale = np.max(np.abs(k), axis=axes, keepdims=True) / 127.0
        kernel.assign(np.round(k / np.where(scale > 0, scale, 1.0)) * scale)
    return copy


def per_slot_latency(predict, features: np.ndarray, repeats: int) -> float:
    """Seconds per slot of ``predict`` on one slot at a time, best of ``repeats`` rounds."""
    predict(features[:1])  # warm up (tracing, allocation)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(len(features)):
            predict(features[i:i + 1])
        best = min(best, (time.perf_counter() - start) / len(features))
    return best


def sinr_loss_db(reference: tuple[list, list], candidate: tuple[list, list]) -> list:
    """Per candidate point: its SINR minus the SINR where the reference curve has the same BER."""
    losses = []
    for sinr, ber in zip(*candidate):
        try:
            losses.append(sinr - sinr_at_ber(*reference, ber))
        except TargetNotReached:
            losses.append(None)  # the reference never gets this bad/good on its grid
    return losses


def gap_at_ber(reference: tuple[list, list], candidate: tuple[list, list], target: float):
    """SINR [dB] the candidate needs beyond the reference at ``target`` BER, or why it cannot be read."""
    try:
        return -sinr_gain_at_ber(reference, candidate, target)
    except TargetNotReached as err:
        return f"not reached: {err}"


def shift_or_reason(reference_ber: list, candidate: tuple[list, list]):
    """`sinr_shift_db` of the candidate's curve against the reference's (same grid), or why not."""
    try:
        return sinr_shift_db(candidate[0], reference_ber, candidate[1])
    except ValueError as err:
        return f"not measured: {err}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--sinr", default="20,25,30", help="three SINR points [dB]")
    parser.add_argument("--slots", type=int, default=256, help="slots per SINR point")
    parser.add_argument("--latency-slots", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calibration-slots", type=int, default=128)
    parser.add_argument("--qat-checkpoint", type=Path, default=None,
                        help="also export this quantization-aware-trained checkpoint to int8 "
                             "and edgetpu (rows tflite_int8_qat, tflite_edgetpu_qat, "
                             "tflite_int8_qat_learned; keras_float_qat)")
    parser.add_argument("--gap-sinr", default="19:23:1",
                        help="denser SINR grid [dB] around coded BER 1e-2 (START:STOP:STEP or A,B,C)")
    parser.add_argument("--gap-slots", type=int, default=512, help="slots per point of --gap-sinr")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "export.json")
    args = parser.parse_args()
    gap_sinr_db = parse_sinr_grid(args.gap_sinr)

    source = args.checkpoint or shipped_checkpoint()
    loaded = load_checkpoint(source)
    link = loaded.link_config
    keras_model = loaded.model_for(link.num_dmrs_symbols)  # the batch-norm statistics of the link's DMRS count
    sinr_db = [float(s) for s in args.sinr.split(",")]
    files, exports = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in EXPORT_FORMATS:
            start = time.perf_counter()
            files[fmt] = Path(tmp) / f"deeprx_{fmt}.tflite"
            info = export_deeprx(keras_model, fmt, files[fmt], link, model_config=loaded.config,
                                 num_calibration_slots=args.calibration_slots, seed=0)
            exports[fmt] = {"bytes": info["bytes"], "input": info["input"], "output": info["output"],
                            "export_seconds": time.perf_counter() - start,
                            "depth_multiplier_rewrite": info["depth_multiplier_rewrite"],
                            "edgetpu_ops_mappable": f"{info['edgetpu_op_report']['num_mappable']}/"
                                                    f"{info['edgetpu_op_report']['num_ops']}"}
        # the converter's own calibration (min and max over all slots), for comparison
        files["int8_minmax"] = Path(tmp) / "deeprx_int8_minmax.tflite"
        info = export_deeprx(keras_model, "int8", files["int8_minmax"], link, seed=0,
                             model_config=loaded.config,
                             num_calibration_slots=args.calibration_slots, calibration="minmax")
        exports["int8_minmax"] = {"bytes": info["bytes"], "input": info["input"], "output": info["output"]}
        if args.qat_checkpoint is not None:
            qat = load_checkpoint(args.qat_checkpoint)
            if qat.qat_model is None:
                raise SystemExit(f"{args.qat_checkpoint} has no qat_weights.h5: train it with --qat")
            for fmt, calibration, name in (("int8", "batch-mean", "int8_qat"),
                                           ("edgetpu", "batch-mean", "edgetpu_qat"),
                                           ("int8", "learned", "int8_qat_learned")):
                files[name] = Path(tmp) / f"deeprx_{name}.tflite"
                info = export_deeprx(qat.model, fmt, files[name], link, seed=0, calibration=calibration,
                                     model_config=qat.config,
                                     num_calibration_slots=args.calibration_slots, qat_model=qat.qat_model)
                exports[name] = {"bytes": info["bytes"], "input": info["input"], "output": info["output"],
                                 "checkpoint": str(args.qat_checkpoint), "calibration": info["calibration"],
                                 "dilation_rewrite": info.get("dilation_rewrite")}
        # the converter's graph, its depthwise convolutions of depth multiplier 2 kept: latency only
        # (int8 computes the same integers, float the same logits within 1e-5: `rewrite_depth_multipliers`)
        kept = {}
        for fmt in ("float", "int8"):
            kept[fmt] = Path(tmp) / f"deeprx_{fmt}_depth_multiplier_kept.tflite"
            export_deeprx(keras_model, fmt, kept[fmt], link, model_config=loaded.config,
                          num_calibration_slots=args.calibration_slots, seed=0, unit_depth_multiplier=False)
        tflite = {fmt: TFLiteModel(path) for fmt, path in files.items()}

        print(f"exported {len(files) + len(kept)} files; measuring the latency per slot", flush=True)
        # latency per slot, batch 1, on the same slots (features from the link, other seed)
        features = calibration_features(link, args.latency_slots, seed=1, model_config=loaded.config)
        keras_fn = tf.function(lambda f: keras_model(f, training=False))
        latency = {"keras_float": per_slot_latency(lambda f: keras_fn(f).numpy(), features, args.repeats)}
        for fmt, model in tflite.items():
            latency[f"tflite_{fmt}"] = per_slot_latency(model.predict, features, args.repeats)
        for fmt, path in kept.items():
            latency[f"tflite_{fmt}_depth_multiplier_kept"] = per_slot_latency(TFLiteModel(path).predict,
                                                                             features, args.repeats)
        batched = per_slot_latency(lambda f: keras_fn(np.repeat(f, 16, 0)).numpy(), features[:8],
                                   args.repeats) / 16

        print("latency measured; BER through the link", flush=True)
        # BER through the full link, same seed for every receiver
        config = loaded.config
        receivers = {"keras_float": lambda tx: DeepRxReceiver(tx, keras_model, config=config)}
        receivers.update({f"tflite_{fmt}": (lambda tx, m=model: TFLiteReceiver(tx, m))
                          for fmt, model in tflite.items()})
        int8_input = exports["int8"]["input"]
        receivers["keras_float_int8_input"] = lambda tx: DeepRxReceiver(
            tx, InputQuantized(keras_model, int8_input["scale"], int8_input["zero_point"]), config=config)
        weights_int8 = int8_weights(keras_model)
        receivers["keras_int8_weights"] = lambda tx: DeepRxReceiver(tx, weights_int8, config=config)
        if args.qat_checkpoint is not None:
            receivers["keras_float_qat"] = lambda tx: DeepRxReceiver(tx, qat.model, config=qat.config)
        report = compare_receivers(link, receivers, sinr_db, batch_size=64,
                                   max_mc_iter=max(1, args.slots // 64), num_target_block_errors=None,
                                   early_stop=False, seed=0)
        # the gap at coded BER 1e-2 on the denser grid: Keras float and the int8 files
        gap_receivers = {name: receivers[name] for name in ("keras_float", "tflite_int8", "tflite_int8_qat",
                                                            "tflite_int8_qat_learned", "keras_float_qat")
                         if name in receivers}
        dense = compare_receivers(link, gap_receivers, gap_sinr_db, batch_size=64,
                                  max_mc_iter=max(1, args.gap_slots // 64), num_target_block_errors=None,
                                  early_stop=False, seed=0)

    def curve(entry, metric):
        return [p["sinr_db"] for p in entry["points"]], [p[metric] for p in entry["points"]]

    curves = {name: curve(entry, "uncoded_ber") for name, entry in report["receivers"].items()}
    coded = {name: curve(entry, "coded_ber") for name, entry in report["receivers"].items()}
    loss = {name: sinr_loss_db(curves["keras_float"], c) for name, c in curves.items()}
    gap_1e2 = {name: gap_at_ber(curves["keras_float"], c, 1e-2) for name, c in curves.items()}
    coded_gap_1e2 = {name: gap_at_ber(coded["keras_float"], c, 1e-2) for name, c in coded.items()}
    dense_coded = {name: curve(entry, "coded_ber") for name, entry in dense["receivers"].items()}
    dense_gap = {"sinr_db": gap_sinr_db,
                 "slots_per_point": dense["receivers"]["keras_float"]["points"][0]["blocks"],
                 "coded_ber": {name: c[1] for name, c in dense_coded.items()},
                 "bler": {name: [p["bler"] for p in entry["points"]]
                          for name, entry in dense["receivers"].items()},
                 "gap_db_at_coded_ber_1e-2": {name: gap_at_ber(dense_coded["keras_float"], c, 1e-2)
                                              for name, c in dense_coded.items()},
                 "shift_db_least_squares": {name: shift_or_reason(dense_coded["keras_float"][1], c)
                                            for name, c in dense_coded.items()},
                 "coded_ber_ratio_vs_keras_float": {
                     name: [b / f if f > 0 else None for b, f in zip(c[1], dense_coded["keras_float"][1])]
                     for name, c in dense_coded.items()}}
    result = {
        "benchmark": "export",
        # the shipped model by name, not by this machine's install path
        "checkpoint": str(args.checkpoint) if args.checkpoint else "deeprx_tf/models/default",
        "scenario": link.to_dict(),
        "exports": exports,
        "latency_ms_per_slot_batch1": {k: v * 1e3 for k, v in latency.items()},
        "latency_ratio_vs_keras_float": {k: latency["keras_float"] / v for k, v in latency.items()},
        "keras_float_ms_per_slot_batch16": batched * 1e3,
        "sinr_db": sinr_db,
        "slots_per_point": report["receivers"]["keras_float"]["points"][0]["blocks"],
        "ber": {name: {"uncoded_ber": [p["uncoded_ber"] for p in entry["points"]],
                       "coded_ber": [p["coded_ber"] for p in entry["points"]],
                       "bler": [p["bler"] for p in entry["points"]]}
                for name, entry in report["receivers"].items()},
        "sinr_loss_db_vs_keras_float": loss,
        "sinr_gap_db_at_ber_1e-2": gap_1e2,
        "sinr_gap_db_at_coded_ber_1e-2": coded_gap_1e2,
        "coded_ber_1e-2_dense": dense_gap,
    }
    write_result(args.out, result)
    for name in curves:
        ber = ", ".join(f"{b:.3e}" for b in curves[name][1])
        sl = ", ".join("-" if x is None else f"{x:+.2f}" for x in loss[name])
        gap = coded_gap_1e2[name]
        sl += f"  gap at coded BER 1e-2: {gap:+.2f} dB" if isinstance(gap, float) else ""
        lat = (f"{latency[name] * 1e3:7.2f} ms/slot ({latency['keras_float'] / latency[name]:.2f} x "
               "Keras float speed)" if name in latency else "")
        print(f"{name:<22} {lat:<40} uncoded BER at {args.sinr} dB: {ber}  SINR loss [dB]: {sl}")
    for name in latency:
        if name.endswith("_depth_multiplier_kept"):
            print(f"{name:<40} {latency[name] * 1e3:7.2f} ms/slot "
                  f"({latency['keras_float'] / latency[name]:.2f} x Keras float speed)")
    print(f"Keras float batched (16): {batched * 1e3:.2f} ms/slot")
    print(f"coded BER at {args.gap_sinr} dB, {dense_gap['slots_per_point']} slots per point:")
    for name, ber in dense_gap["coded_ber"].items():
        gap, shift = dense_gap["gap_db_at_coded_ber_1e-2"][name], dense_gap["shift_db_least_squares"][name]
        print(f"  {name:<18} {', '.join(f'{b:.3e}' for b in ber)}  gap at 1e-2: "
              + (f"{gap:+.2f} dB" if isinstance(gap, float) else gap)
              + ", least-squares shift: " + (f"{shift:+.2f} dB" if isinstance(shift, float) else shift)
              + ", x float: " + ", ".join("-" if r is None else f"{r:.2f}"
                                          for r in dense_gap["coded_ber_ratio_vs_keras_float"][name]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
