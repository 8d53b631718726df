"""Plots of `profiling`: energy per processor, per block per processor, and the training/inference
lifecycle."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from link_sim.results import write_atomic
from profiling.lifecycle import Lifecycle, format_duration


def _save(fig, path) -> Path:
    import matplotlib.pyplot as plt

    out = write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
    return out


def plot_processor_energy(energy_per_inference: dict[str, float], path: str | Path,
                          measured: dict[str, float] | None = None,
                          title: str = "Energy per inference") -> Path:
    """Bars of metric (0) energy per inference per processor [mJ, log axis], and the measured
    energies beside them.

    Parameters
    ----------
    energy_per_inference : dict
        Processor name -> metric (0) energy per inference [J].
    measured : dict, optional
        Label (e.g. ``"this machine, measured"``) -> measured energy per inference [J].
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = {f"{name}\n(metric 0)": energy for name, energy in energy_per_inference.items()}
    bars.update({label: energy for label, energy in (measured or {}).items()})
    colors = ["tab:blue"] * len(energy_per_inference) + ["tab:orange"] * len(measured or {})
    fig, ax = plt.subplots(figsize=(max(7, 1.1 * len(bars)), 4.5))
    x = np.arange(len(bars))
    ax.bar(x, [e * 1e3 for e in bars.values()], color=colors)
    for xi, energy in zip(x, bars.values()):
        ax.annotate(f"{energy * 1e3:.3g}", (xi, energy * 1e3), ha="center", va="bottom", fontsize="small")
    ax.set_xticks(x, list(bars), rotation=30, ha="right", fontsize="small")
    ax.set_yscale("log")
    ax.set_ylabel("energy per inference [mJ]")
    ax.set_title(title)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_block_energy(energy_by_block: dict[str, dict[str, float]], path: str | Path,
                      title: str = "Energy per inference by block (metric 0)") -> Path:
    """Grouped bars: block on the x axis, one bar per processor, energy [mJ] on a log axis.

    Parameters
    ----------
    energy_by_block : dict
        Processor name -> block -> energy per inference [J] (`energy_table`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    processors = list(energy_by_block)
    blocks = list(next(iter(energy_by_block.values())))
    x = np.arange(len(blocks))
    width = 0.8 / max(len(processors), 1)
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(blocks)), 4.5))
    for i, name in enumerate(processors):
        ax.bar(x + (i - (len(processors) - 1) / 2) * width,
               [energy_by_block[name][b] * 1e3 for b in blocks], width, label=name)
    ax.set_xticks(x, blocks, rotation=45, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("energy per inference [mJ]")
    ax.set_title(title)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def plot_lifecycle(lifecycle: Lifecycle, path: str | Path) -> Path:
    """Amortized training ``E_t/n`` and cumulated inference ``E_i n`` against ``n`` (log-log),
    with the crossing ``n*`` and the total-energy break-even marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_star, n_even = lifecycle.crossing_inferences, lifecycle.break_even_inferences
    n = np.logspace(0, np.log10(n_even) + 1, 400)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.loglog(n, lifecycle.amortized_training_j(n), label="amortized training $E_t/n$")
    ax.loglog(n, lifecycle.cumulated_inference_j(n), label="cumulated inference $E_i n$")
    ax.loglog(n, np.full_like(n, lifecycle.training_energy_j), ":", color="gray",
              label="total training $E_t$")
    for value, text in ((n_star, "crossing $n^*$"), (n_even, "break-even $E_t/E_i$")):
        seconds = value / lifecycle.inference_rate
        ax.axvline(value, ls="--", color="k", alpha=0.5)
        ax.annotate(f"{text}\n{value:.3g} inf.\n{format_duration(seconds)} @ {lifecycle.inference_rate:g}/s",
                    (value, lifecycle.training_energy_j), fontsize="small",
                    xytext=(5, -40), textcoords="offset points")
    ax.set_xlabel("inferences n")
    ax.set_ylabel("energy [J]")
    ax.set_title("Training vs inference energy")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="lower left")
    fig.tight_layout()
    return _save(fig, path)
