"""BER and BLER versus SINR plots (matplotlib, PNG) and their numbers as CSV."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from link_sim.results import write_atomic  # noqa: E402
from link_sim.sweep import SweepResult  # noqa: E402

_PANELS = (("uncoded_ber", "Uncoded BER (coded bits)"), ("coded_ber", "Coded BER (info bits)"),
           ("bler", "BLER"))

#: Columns of the CSV written by `write_sweep_csv`.
CSV_COLUMNS = ("receiver", "sinr_db", "uncoded_ber", "coded_ber", "bler", "uncoded_bit_errors",
               "uncoded_bits", "bit_errors", "bits", "block_errors", "blocks", "iterations")


def plot_ber(results: Sequence[SweepResult], path: str | Path, title: str = "") -> Path:
    """Uncoded BER, coded BER and BLER versus SINR, one line per receiver, log axis.

    Zero error rates have no place on a log axis and are left out of the
    lines. The PNG is written atomically.
    """
    fig, axes = plt.subplots(1, len(_PANELS), figsize=(5 * len(_PANELS), 4), constrained_layout=True)
    for ax, (metric, label) in zip(axes, _PANELS):
        for res in results:
            sinr, val = res.column("sinr_db"), res.column(metric)
            keep = val > 0  # also drops nan
            ax.semilogy(sinr[keep], val[keep], marker="o", label=res.receiver)
        ax.set_xlabel("SINR [dB]")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    if title:
        fig.suptitle(title)
    out = write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return out


def plot_ber_intervals(curves: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """Uncoded BER versus SINR with a confidence band per curve (log axis).

    Parameters
    ----------
    curves : sequence of dict
        `link_sim.confidence.SeedCurves.to_dict()` of each curve: ``name``,
        ``num_seeds``, ``sinr_db``, ``uncoded_ber``, ``ci_low``, ``ci_high``,
        ``level``.
    """
    fig, ax = plt.subplots(figsize=(6, 4.5), constrained_layout=True)
    for curve in curves:
        sinr = np.asarray(curve["sinr_db"], float)
        ber = np.asarray(curve["uncoded_ber"], float)
        low, high = (np.array([np.nan if v is None else v for v in curve[k]], float)
                     for k in ("ci_low", "ci_high"))
        keep = ber > 0
        seeds = f" ({curve['num_seeds']} seeds)" if curve["num_seeds"] > 1 else ""
        line, = ax.semilogy(sinr[keep], ber[keep], marker="o", label=curve["name"] + seeds)
        band = keep & np.isfinite(low) & np.isfinite(high)
        ax.fill_between(sinr[band], low[band], high[band], color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("SINR [dB]")
    ax.set_ylabel(f"Uncoded BER ({curves[0]['level']:.0%} confidence bands)" if curves else "Uncoded BER")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    out = write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return out


def write_sweep_csv(results: Sequence[SweepResult], path: str | Path) -> Path:
    """The points of every curve as CSV, one row per receiver and SINR point."""

    def write(tmp):
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for res in results:
                for point in res.points:
                    writer.writerow({"receiver": res.receiver, **point.to_dict()})

    return write_atomic(path, write)
