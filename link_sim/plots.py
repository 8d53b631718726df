"""BER and BLER versus SINR plots (matplotlib, PNG) and their numbers as CSV."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import matplotlib

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
