"""`profile_model`: FLOPs, metric (0) energy per processor, optional measured energy and the
lifecycle of one model, written as JSON, CSV and PNGs (what ``deeprx profile`` runs)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from link_sim.errors import InputError
from link_sim.results import write_atomic, write_json
from profiling.flops import FlopsReport, count_flops
from profiling.lifecycle import (DEFAULT_INFERENCE_RATE, PAPER_TRAIN_ENERGY_PER_STEP_J, PAPER_TRAIN_STEPS,
                                 Lifecycle)
from profiling.measure import EnergyMeasurement
from profiling.plots import plot_block_energy, plot_lifecycle, plot_processor_energy
from profiling.processors import Processor, energy_table

#: Files `profile_model` writes.
PROFILE_OUTPUTS = ("profile.json", "flops_by_layer.csv", "energy_by_processor.png", "energy_by_block.png",
                   "lifecycle.png")



def layer_table_csv(report: FlopsReport) -> str:
    """Per-layer FLOPs as CSV text (layer, block, conv/other/analytic FLOPs, padding removed)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["layer", "block", "flops", "conv_flops", "other_flops", "analytic_conv_flops",
                     "padding_flops_removed"])
    for layer in report.layers:
        writer.writerow([layer.layer, layer.block, layer.flops, layer.conv_flops, layer.other_flops,
                         "" if layer.analytic_conv_flops is None else layer.analytic_conv_flops,
                         layer.padding_flops])
    return buf.getvalue()


def profile_model(model, input_shape, processors: list[Processor], out_dir: str | Path,
                  lifecycle_processor: str, train_energy_per_step_j: float = PAPER_TRAIN_ENERGY_PER_STEP_J,
                  train_steps: int = PAPER_TRAIN_STEPS, inference_energy_j: float | None = None,
                  inference_rate: float = DEFAULT_INFERENCE_RATE,
                  measure: Callable[[], dict[str, EnergyMeasurement]] | None = None,
                  about: dict | None = None) -> dict:
    """Profile ``model`` and write `PROFILE_OUTPUTS` into ``out_dir``.

    Parameters
    ----------
    model : tf_keras.Model
    input_shape : sequence of int
        One inference's input, e.g. ``(14, 312, 10)`` for one slot.
    processors : list of Processor
        Processors of metric (0).
    lifecycle_processor : str
        Processor whose metric (0) energy is the lifecycle's inference
        energy, unless ``inference_energy_j`` is given.
    train_energy_per_step_j, train_steps : float, int
        Training energy of the lifecycle (the paper's 20 J x 250,000 by
        default); replaced by the measured energy per step when ``measure``
        returns a ``"training_step"`` entry.
    inference_energy_j : float, optional
        Inference energy of the lifecycle [J], overriding metric (0).
    measure : callable, optional
        Returns measured `EnergyMeasurement` s keyed ``"inference"`` and
        ``"training_step"``; they are reported with their power source.
    about : dict, optional
        What was profiled (checkpoint or preset, grid), stored in the JSON.

    Returns
    -------
    dict
        The content of ``profile.json``.
    """
    out = Path(out_dir)
    names = [p.name for p in processors]
    if lifecycle_processor not in names:
        raise InputError(f"unknown --lifecycle-processor {lifecycle_processor!r}; "
                         f"choose from {', '.join(names)}")
    report = count_flops(model, input_shape)
    by_block = report.by_block()
    energy_total = energy_table({"total": report.total_flops}, processors)
    energy_blocks = energy_table(by_block, processors)
    energy_layers = energy_table({layer.layer: layer.flops for layer in report.layers}, processors)

    measured = measure() if measure else {}
    lifecycle_source = {}
    if inference_energy_j is not None:
        lifecycle_source["inference"] = "given"
    else:
        inference_energy_j = energy_total[lifecycle_processor]["total"]
        lifecycle_source["inference"] = f"metric (0) on {lifecycle_processor}"
    if "training_step" in measured and measured["training_step"].energy_per_item_j > 0:
        train_energy_per_step_j = measured["training_step"].energy_per_item_j
        lifecycle_source["training"] = ("measured per step x steps: "
                                        + measured["training_step"].power_source)
    else:
        lifecycle_source["training"] = "given energy per step x steps"
    lifecycle = Lifecycle.from_steps(train_energy_per_step_j, train_steps, inference_energy_j,
                                     inference_rate)

    result = {
        "about": about or {},
        "flops": report.to_dict(),
        "processors": [p.to_dict() for p in processors],
        "energy_per_inference_j": {"total": {p: e["total"] for p, e in energy_total.items()},
                                   "by_block": energy_blocks, "by_layer": energy_layers},
        "measured": {name: m.to_dict() for name, m in measured.items()},
        "lifecycle": {**lifecycle.to_dict(), "train_energy_per_step_j": train_energy_per_step_j,
                      "train_steps": train_steps, "sources": lifecycle_source},
    }
    write_json(out / "profile.json", result)
    write_atomic(out / "flops_by_layer.csv", lambda tmp: Path(tmp).write_text(layer_table_csv(report)))
    plot_processor_energy({p: e["total"] for p, e in energy_total.items()}, out / "energy_by_processor.png",
                          measured={f"this machine, {name}\n(CodeCarbon, "
                                    f"{'measured' if m.measured else 'modelled'} power)": m.energy_per_item_j
                                    for name, m in measured.items() if name == "inference"},
                          title=f"Energy per inference: {report.total_flops / 1e9:.3g} GFLOP")
    plot_block_energy(energy_blocks, out / "energy_by_block.png",
                      title=f"Energy per inference by block, metric (0): "
                            f"{report.total_flops / 1e9:.3g} GFLOP per inference")
    plot_lifecycle(lifecycle, out / "lifecycle.png")
    return result
