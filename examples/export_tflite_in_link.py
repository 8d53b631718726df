"""Export a DeepRx checkpoint to int8 TFLite and measure the file's BER in the link.

    python examples/export_tflite_in_link.py --out deeprx_int8.tflite [--checkpoint DIR]

The library calls behind ``deeprx export`` and ``deeprx simulate
--receiver tflite:FILE``: `export_deeprx` (batch norms folded, int8
calibrated on slots from the link, a ``.json`` sidecar with the I/O
quantization and the Edge TPU op report), then `TFLiteReceiver`, which
runs the file with LiteRT behind `DeepRxReceiver`'s call contract, next
to the Keras model in the same link.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import deeprx_tf  # noqa: F401  (first: makes tf.keras Keras 2, before TensorFlow loads)

from deeprx_tf import (DeepRxReceiver, TFLiteReceiver, export_deeprx, load_checkpoint,
                       shipped_checkpoint)
from link_sim.compare import compare_receivers
from link_sim.sweep import parse_sinr_grid


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the .tflite file to write")
    parser.add_argument("--checkpoint", type=Path, help="DeepRx checkpoint (default: the shipped model)")
    parser.add_argument("--format", default="int8", help="float, int8, int16x8 or edgetpu")
    parser.add_argument("--calibration-slots", type=int, default=128)
    parser.add_argument("--sinr", default="20,25,30", help="SINR points [dB]: A,B,C or START:STOP:STEP")
    parser.add_argument("--slots", type=int, default=64, help="slots per SINR point")
    args = parser.parse_args(argv)

    checkpoint = load_checkpoint(args.checkpoint or shipped_checkpoint())
    # an exported file serves one DMRS count: its batch-norm statistics
    model = checkpoint.model_for(checkpoint.link_config.num_dmrs_symbols)
    info = export_deeprx(model, args.format, args.out, checkpoint.link_config,
                         num_calibration_slots=args.calibration_slots, overwrite=True,
                         model_config=checkpoint.config)
    report = info["edgetpu_op_report"]
    print(f"wrote {args.out}: {info['bytes'] / 1e6:.2f} MB, input {info['input']['dtype']}, "
          f"{report['num_mappable']} of {report['num_ops']} ops mappable to the Edge TPU")

    receivers = {"keras": lambda tx: DeepRxReceiver(tx, checkpoint),
                 f"tflite {args.format}": lambda tx: TFLiteReceiver(tx, args.out)}
    sinr_db = parse_sinr_grid(args.sinr)
    result = compare_receivers(checkpoint.link_config, receivers, sinr_db, batch_size=args.slots,
                               max_mc_iter=1)
    for name, entry in result["receivers"].items():
        bers = ", ".join(f"{p['uncoded_ber']:.2e}" for p in entry["points"])
        print(f"{name:<12} uncoded BER at {args.sinr} dB: {bers}")
    return result


if __name__ == "__main__":
    main()
