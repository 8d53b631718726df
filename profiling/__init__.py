"""FLOPs, per-processor energy estimates and measured energy of DeepRx models.

- `count_flops`: TensorFlow-profiler FLOPs per inference, per layer and per
  block, cross-checked by `analytic_conv_flops`.
- `Processor`, `paper_processors`, `read_processors`, `energy_table`: the
  paper's metric (0), energy = FLOPs / (FLOP/s per W).
- `measure_energy`, `EnergyMeasurement`: CodeCarbon and the base-power method.
- `Lifecycle`: training against inference energy (crossing and break-even).
- `profile_model`: all of it for one model, as ``deeprx profile`` writes it.

Public names are imported on first use.
"""

import link_sim.tfenv  # noqa: F401  (must precede TensorFlow)
from link_sim.lazy import lazy_exports

_EXPORTS = {
    "FlopsReport": "profiling.flops",
    "LayerFlops": "profiling.flops",
    "analytic_conv_flops": "profiling.flops",
    "count_flops": "profiling.flops",
    "Processor": "profiling.processors",
    "energy_table": "profiling.processors",
    "merge_processors": "profiling.processors",
    "paper_processors": "profiling.processors",
    "read_processors": "profiling.processors",
    "EnergyMeasurement": "profiling.measure",
    "measure_energy": "profiling.measure",
    "isolated_codecarbon": "profiling.measure",
    "inference_workload": "profiling.measure",
    "training_workload": "profiling.measure",
    "Lifecycle": "profiling.lifecycle",
    "profile_model": "profiling.report",
    "plot_block_energy": "profiling.plots",
    "plot_lifecycle": "profiling.plots",
}

__all__ = list(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
