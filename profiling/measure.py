"""Measured energy with CodeCarbon and the paper's base-power method.

1. Base power: the machine's power while idle, the median over several
   short windows before the workload runs.
2. Absolute power: the mean power while the workload runs.
3. Relative power = absolute - base.
4. Relative energy = relative power x running time; divided by the number
   of inferences (or training steps) it is the energy of one.

Power comes from CodeCarbon's offline tracker (no network). Whether it is
a physical measurement depends on the machine: CPU power is measured only
through RAPL (Intel/AMD ``/sys/class/powercap``), Windows EMI or Intel
Power Gadget, GPU power through NVML; otherwise CodeCarbon *models* CPU
power (TDP x CPU load, or a constant TDP) and RAM power is always a
constant model. The result says which (``power_source``, ``measured``), so
a modelled figure is never presented as a measurement.

CodeCarbon reads ``~/.codecarbon.config``, ``./.codecarbon.config`` and
``CODECARBON_*`` variables; `isolated_codecarbon` hides all three and keeps
its files in a temporary folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence

from link_sim.errors import InputError

#: kWh -> J
_J_PER_KWH = 3.6e6
#: Idle windows whose median power is the base power, and their length [s].
DEFAULT_IDLE_WINDOWS = 5
IDLE_WINDOW_S = 2.0
#: CodeCarbon CPU modes that read a hardware energy counter.
_MEASURED_CPU_MODES = {"intel_rapl": "RAPL", "windows_emi": "Windows EMI",
                       "intel_power_gadget": "Intel Power Gadget"}


@dataclasses.dataclass(frozen=True)
class EnergyMeasurement:
    """Result of the base-power method.

    Attributes
    ----------
    idle_powers_w : list of float
        Mean power of each idle window [W].
    absolute_power_w : float
        Mean power while the workload ran [W].
    duration_s : float
        Running time of the workload [s].
    count : int
        Inferences (or training steps) the workload ran.
    power_source : str
        How power was obtained, e.g. ``"CPU: RAPL; RAM: CodeCarbon constant model"``.
    measured : bool
        True only if the CPU (or GPU) power is read from a hardware counter.
    """

    idle_powers_w: list[float]
    absolute_power_w: float
    duration_s: float
    count: int
    power_source: str = "given"
    measured: bool = False

    def __post_init__(self):
        if not self.idle_powers_w:
            raise InputError("the base power needs at least one idle window")
        if not self.duration_s > 0 or self.count < 1:
            raise InputError("duration_s must be positive and count at least 1")

    @property
    def base_power_w(self) -> float:
        """Median idle power [W]."""
        return float(statistics.median(self.idle_powers_w))

    @property
    def relative_power_w(self) -> float:
        """Absolute minus base power [W] (negative values are kept: they flag a noisy base)."""
        return self.absolute_power_w - self.base_power_w

    @property
    def reliable(self) -> bool:
        """Whether the workload drew more than the idle baseline: a relative power at or below 0
        means the base was noisy (another load while idle, or the model's estimate), not a figure."""
        return self.relative_power_w > 0

    @property
    def relative_energy_j(self) -> float:
        return self.relative_power_w * self.duration_s

    @property
    def energy_per_item_j(self) -> float:
        """Relative energy of one inference (or training step) [J]."""
        return self.relative_energy_j / self.count

    def to_dict(self) -> dict:
        return {
            "power_source": self.power_source,
            "measured": self.measured,
            "idle_powers_w": list(self.idle_powers_w),
            "base_power_w": self.base_power_w,
            "absolute_power_w": self.absolute_power_w,
            "relative_power_w": self.relative_power_w,
            "duration_s": self.duration_s,
            "count": self.count,
            "relative_energy_j": self.relative_energy_j,
            "energy_per_item_j": self.energy_per_item_j,
            "reliable": self.reliable,
        }


@contextlib.contextmanager
def isolated_codecarbon():
    """Hide the user's CodeCarbon configuration (``~/.codecarbon.config``,
    ``./.codecarbon.config``, ``CODECARBON_*``) and run in a temporary folder.

    Yields
    ------
    str
        The temporary folder (CodeCarbon's ``output_dir``).
    """
    saved_env = {k: v for k, v in os.environ.items() if k.upper().startswith("CODECARBON_")}
    saved_home, saved_cwd = os.environ.get("HOME"), os.getcwd()
    with tempfile.TemporaryDirectory(prefix="deeprx-codecarbon-") as tmp:
        try:
            for key in saved_env:
                del os.environ[key]
            os.environ["HOME"] = tmp
            os.chdir(tmp)
            yield tmp
        finally:
            os.chdir(saved_cwd)
            if saved_home is None:
                os.environ.pop("HOME", None)
            else:
                os.environ["HOME"] = saved_home
            os.environ.update(saved_env)


def describe_power_source(hardware: Sequence) -> tuple[str, bool]:
    """``(description, measured)`` from CodeCarbon's hardware objects."""
    parts, measured = [], False
    for device in hardware:
        kind = type(device).__name__
        mode = getattr(device, "_mode", None)
        if kind == "CPU":
            if mode in _MEASURED_CPU_MODES:
                parts.append(f"CPU: measured ({_MEASURED_CPU_MODES[mode]})")
                measured = True
            elif mode == "cpu_load":
                parts.append("CPU: modelled by CodeCarbon (TDP x CPU load, no RAPL)")
            else:
                parts.append(f"CPU: modelled by CodeCarbon (constant {repr(device)})")
        elif kind == "GPU":
            parts.append("GPU: measured (NVML)")
            measured = True
        elif kind == "RAM":
            parts.append("RAM: modelled by CodeCarbon (constant per GB)")
        else:
            parts.append(f"{kind}: {repr(device)}")
    return "; ".join(parts) or "unknown", measured


def measure_energy(workload: Callable[[], None], count: int, idle_windows: int = DEFAULT_IDLE_WINDOWS,
                   idle_window_s: float = IDLE_WINDOW_S, country_iso_code: str = "USA") -> EnergyMeasurement:
    """Measure the relative energy of ``workload`` by the base-power method.

    Parameters
    ----------
    workload : callable
        Runs ``count`` inferences (or training steps) when called; warm it
        up (trace, compile) before.
    count : int
        How many inferences (or steps) one call runs.
    idle_windows, idle_window_s : int, float
        The base power is the median of ``idle_windows`` windows of
        ``idle_window_s`` seconds each, measured before the workload.
    country_iso_code : str
        Only used by CodeCarbon for carbon intensity, not for energy.

    Returns
    -------
    EnergyMeasurement
    """
    if idle_windows < 1 or not idle_window_s > 0:
        raise InputError("idle_windows must be at least 1 and idle_window_s positive")
    import logging

    from codecarbon import OfflineEmissionsTracker

    with isolated_codecarbon() as tmp:
        tracker = OfflineEmissionsTracker(
            country_iso_code=country_iso_code, output_dir=tmp, save_to_file=False,
            log_level="error", measure_power_secs=1, allow_multiple_runs=True)
        logging.getLogger("codecarbon").setLevel(logging.ERROR)

        def task(name, fn):
            tracker.start_task(name)
            fn()
            data = tracker.stop_task()
            return data.energy_consumed * _J_PER_KWH / data.duration, data.duration

        idle = [task(f"idle_{i}", lambda: time.sleep(idle_window_s))[0] for i in range(idle_windows)]
        absolute, duration = task("workload", workload)
        source, measured = describe_power_source(getattr(tracker, "_hardware", []))
    return EnergyMeasurement(idle_powers_w=idle, absolute_power_w=absolute, duration_s=duration,
                             count=count, power_source=source, measured=measured)


def inference_workload(model, input_shape, count: int) -> Callable[[], None]:
    """A warmed-up workload of ``count`` batch-1 inferences of ``model`` (graph mode).

    Parameters
    ----------
    input_shape : sequence of int
        One inference's input without batch, e.g. ``(14, 312, 10)``.
    """
    import tensorflow as tf

    x = tf.random.stateless_normal((1,) + tuple(input_shape), seed=(0, 0))
    infer = tf.function(lambda t: model(t, training=False))
    infer(x).numpy()  # trace and warm up

    def run():
        for _ in range(count):
            y = infer(x)
        y.numpy()

    return run


def training_workload(model, batch, count: int) -> Callable[[], None]:
    """A warmed-up workload of ``count`` optimizer steps of a compiled ``model`` on ``batch``."""
    x, y = batch
    model.train_on_batch(x, y)  # trace and warm up

    def run():
        for _ in range(count):
            model.train_on_batch(x, y)

    return run


#: What one measured DeepRx training step is: a batch of this many slots of the link at this SINR
#: (`measure_deeprx_energy`), Adam at this learning rate.
TRAINING_BATCH_SLOTS, TRAINING_SINR_DB, TRAINING_LEARNING_RATE = 16, 20.0, 1e-3


def deeprx_training_workload(model_config, link_config, count: int) -> Callable[[], None]:
    """A warmed-up workload of ``count`` training steps of a fresh DeepRx of ``model_config``:
    Adam (`TRAINING_LEARNING_RATE`), masked BCE, on one batch of `TRAINING_BATCH_SLOTS` slots of
    ``link_config``'s link at `TRAINING_SINR_DB`."""
    import tf_keras as keras

    from deeprx_tf.dataset import LinkBatchMaker
    from deeprx_tf.losses import masked_bce
    from deeprx_tf.model import build_deeprx

    trainee = build_deeprx(model_config)
    trainee.compile(keras.optimizers.Adam(TRAINING_LEARNING_RATE), loss=masked_bce)
    batch = LinkBatchMaker(link_config, model_config)(TRAINING_BATCH_SLOTS,
                                                      [TRAINING_SINR_DB] * TRAINING_BATCH_SLOTS)
    return training_workload(trainee, batch, count)


def measure_deeprx_energy(model, model_config, link_config, num_inferences: int, num_steps: int,
                          idle_windows: int = DEFAULT_IDLE_WINDOWS) -> dict[str, EnergyMeasurement]:
    """Measured energy of a DeepRx's batch-1 inferences and of its training steps (base-power method).

    Parameters
    ----------
    model : tf_keras.Model
        The DeepRx whose inferences are measured.
    model_config : deeprx_tf.DeepRxConfig
        Its architecture (a fresh model of it trains, `deeprx_training_workload`).
    link_config : link_sim.LinkConfig
        The scenario: the grid of an inference and the link of the training batch.
    num_inferences, num_steps : int
    idle_windows : int
        Idle windows whose median power is the base power.

    Returns
    -------
    dict
        ``{"inference": EnergyMeasurement, "training_step": EnergyMeasurement}``.
    """
    input_shape = (link_config.num_ofdm_symbols, link_config.num_subcarriers, model_config.num_input_channels)
    results = {"inference": measure_energy(inference_workload(model, input_shape, num_inferences),
                                           num_inferences, idle_windows=idle_windows)}
    results["training_step"] = measure_energy(deeprx_training_workload(model_config, link_config, num_steps),
                                              num_steps, idle_windows=idle_windows)
    return results
