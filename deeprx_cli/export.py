"""``deeprx export``: a DeepRx checkpoint to TFLite (float, int8, int16x8, Edge TPU)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from deeprx_cli.common import scenario_from_options, scenario_options, uses_tensorflow
from deeprx_tf.formats import (CALIBRATION_METHODS, DEFAULT_CALIBRATION_SLOTS, DEFAULT_EXPORT_FORMAT, EXPORT_FORMATS,
                               FORMATS)


@click.command()
@click.option("--checkpoint", type=click.Path(path_type=Path),
              help="DeepRx checkpoint folder or shipped model name (default: 'default').")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default=DEFAULT_EXPORT_FORMAT,
              show_default=True, help="; ".join(f"{f.name}: {f.description}" for f in FORMATS) + ".")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The .tflite file to write; its .json (I/O quantization, op report) goes beside it.")
@scenario_options
@click.option("--calibration-slots", type=click.IntRange(min=1), default=DEFAULT_CALIBRATION_SLOTS,
              show_default=True,
              help="Slots from the link (SINR uniform in the scenario's range) that calibrate int8.")
@click.option("--calibration", type=click.Choice(CALIBRATION_METHODS), default=CALIBRATION_METHODS[0],
              show_default=True,
              help="int8/edgetpu activation ranges: batch-mean, each tensor's min and max averaged "
                   "over pairs of slots; minmax, the TFLite converter's over all slots; learned, "
                   "those a QAT checkpoint (deeprx train --qat) learned in training.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the calibration slots.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out and its .json.")
@uses_tensorflow
def export(checkpoint, fmt, out, calibration_slots, calibration, seed, overwrite, **scenario):
    """Export a DeepRx checkpoint to TFLite for one scenario's grid.

    The scenario (grid size, calibration data) is the checkpoint's unless
    --config or the scenario options change it. Writes FILE.tflite and
    FILE.json; folds the batch normalizations away and, for --format
    edgetpu, undilates the convolutions, checking each rewrite against the
    original model; lists every op against the Edge TPU's supported ops and
    runs edgetpu_compiler where it is installed. A QAT checkpoint
    (deeprx train --qat) exports its float weights, trained in that folded
    int8 graph.
    """
    from deeprx_tf.checkpoint import check_fits_scenario, load_checkpoint
    from deeprx_tf.export import export_deeprx, sidecar_path
    from deeprx_tf.shipped import shipped_checkpoint

    source = checkpoint if checkpoint is not None else shipped_checkpoint()
    loaded = load_checkpoint(source)
    link = scenario_from_options(**scenario, base=loaded.link_config)
    check_fits_scenario(loaded.config, link)
    start = time.monotonic()
    # an exported model serves one DMRS count: its batch-norm statistics, where the checkpoint has them
    info = export_deeprx(loaded.model_for(link.num_dmrs_symbols), fmt, out, link,
                         num_calibration_slots=calibration_slots, seed=seed, overwrite=overwrite,
                         metadata={"checkpoint": str(source)}, qat_model=loaded.qat_model, calibration=calibration, model_config=loaded.config)
    io = f"input {info['input']['dtype']} {info['input']['shape']}, output {info['output']['dtype']}"
    if info["input"]["dtype"] != "float32":
        io += (f" (input scale {info['input']['scale']:.4g}, output scale {info['output']['scale']:.4g} "
               f"zero point {info['output']['zero_point']})")
    quantization = info["quantization"]
    if "calibration" in info:
        quantization += f", {info['calibration']['ranges']} ranges"
    click.echo(f"wrote {out} ({info['bytes'] / 1e6:.2f} MB, {io}, {quantization}) "
               f"in {time.monotonic() - start:.0f} s")
    report = info["edgetpu_op_report"]
    summary = f"Edge TPU ops: {report['num_mappable']} of {report['num_ops']} mappable"
    if report["first_unmappable"] is not None:
        first = report["ops"][report["first_unmappable"]]
        summary += (f"; the first that is not is op {first['index']} ({first['op']}: "
                    f"{'; '.join(first['problems'])})"
                    + ("; use --format edgetpu" if fmt != "edgetpu" else ""))
    click.echo(summary)
    if "batch_norm_fold" in info:
        fold = info["batch_norm_fold"]
        click.echo(f"folded {len(fold['into_convolutions']) + len(fold['as_depthwise'])} batch "
                   f"normalizations ({len(fold['into_convolutions'])} into the convolution before them, "
                   f"{len(fold['as_depthwise'])} as 1x1 depthwise convolutions); largest logit difference "
                   f"{fold['max_abs_diff']:.2g} (logits up to {fold['max_abs_logit']:.3g})")
    if "dilation_rewrite" in info:
        rewrite = info["dilation_rewrite"]
        click.echo(f"rewrote {len(rewrite['layers'])} dilated convolutions; largest logit difference "
                   f"{rewrite['max_abs_diff']:.2g} (logits up to {rewrite['max_abs_logit']:.3g})")
    if info.get("depth_multiplier_rewrite", {}).get("rewritten"):
        rewrite = info["depth_multiplier_rewrite"]
        click.echo(f"rewrote {rewrite['rewritten']} depthwise convolutions with a depth multiplier as a channel "
                   f"repeat and multiplier 1; largest logit difference {rewrite['max_abs_diff']:.2g}")
    if "edgetpu_compiler" in info:
        compiler = info["edgetpu_compiler"]
        click.echo(compiler["note"] if not compiler["available"] else
                   f"edgetpu_compiler: exit {compiler['returncode']}, {compiler['ops_on_edgetpu']} ops on "
                   f"the Edge TPU, {compiler['ops_on_cpu']} on the CPU")
    click.echo(f"wrote {sidecar_path(out)}")
