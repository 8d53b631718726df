"""Receivers side by side over a SINR grid: the report behind ``deeprx simulate``."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import sionna
import tensorflow as tf

from link_sim.config import LinkConfig
from link_sim.montecarlo import DEFAULTS, MonteCarloSettings
from link_sim.plots import plot_ber, write_sweep_csv
from link_sim.results import write_json
from link_sim.simulator import LinkSimulator, ReceiverSpec
from link_sim.sweep import SweepPoint, SweepResult, run_sweep

#: How zero BERs enter the Geometric Mean BER in reports.
ZERO_BER_RULE = "a zero BER is floored at 1 / bits simulated at that point"


def compare_receivers(config: LinkConfig, receivers: Sequence[str] | Mapping[str, ReceiverSpec],
                      sinr_db: Sequence[float], batch_size: int = DEFAULTS.batch_size,
                      max_mc_iter: int = DEFAULTS.max_mc_iter,
                      num_target_block_errors: int | None = DEFAULTS.num_target_block_errors,
                      early_stop: bool = DEFAULTS.early_stop, seed: int = DEFAULTS.seed,
                      graph_mode: str = DEFAULTS.graph_mode, target_ber: float = DEFAULTS.target_ber,
                      out_dir: str | Path | None = None,
                      on_point: Callable[[str, SweepPoint], None] | None = None,
                      command: str | None = None) -> dict:
    """Sweep each receiver over the same SINR grid with the same seed.

    Parameters
    ----------
    config : LinkConfig
        The scenario.
    receivers : sequence of str or mapping name -> receiver spec
        Baseline names (``"lmmse"``, ``"perfect-csi"``), or names mapped to
        anything `LinkSimulator` takes as ``receiver``.
    sinr_db : sequence of float
        SINR grid [dB].
    batch_size, max_mc_iter, num_target_block_errors, early_stop, seed, graph_mode
        As in `link_sim.sweep.run_sweep`.
    target_ber : float
        BER (uncoded) at which each curve's SINR, and the gain of each
        receiver over the first, are read.
    out_dir : str or Path, optional
        If given, ``results.json``, ``ber.csv`` and ``ber.png`` are written
        there after every receiver, so an interruption keeps what finished.
    on_point : callable, optional
        Progress callback ``on_point(name, point)``.
    command : str, optional
        The command line, recorded in the report.

    Returns
    -------
    dict
        The report written to ``results.json``.
    """
    # checks that cost nothing, before minutes of simulation
    MonteCarloSettings(batch_size, max_mc_iter, num_target_block_errors, early_stop, seed, graph_mode,
                       target_ber)
    config.check_batch_size(batch_size)
    specs = dict(receivers) if isinstance(receivers, Mapping) else {name: name for name in receivers}
    report = {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "versions": {"sionna": sionna.__version__, "tensorflow": tf.__version__},
        "scenario": config.to_dict(),
        "sinr_db": [float(s) for s in sinr_db],
        "monte_carlo": {"batch_size": batch_size, "max_mc_iter": max_mc_iter,
                        "num_target_block_errors": num_target_block_errors,
                        "early_stop": early_stop, "seed": seed, "graph_mode": graph_mode},
        "metric_notes": {
            "uncoded_ber": "hard decisions (LLR > 0) on the coded bits before decoding (the paper's BER)",
            "coded_ber": "information bits after LDPC decoding",
            "geometric_mean_ber": f"mean of log10(uncoded BER) over the points (paper eq. 3); {ZERO_BER_RULE}",
            "sinr": "per resource element, receive antenna and layer; interference treated as noise",
        },
        "target_ber": target_ber,
        "interrupted": False,
        "receivers": {},
    }
    results: list[SweepResult] = []
    for name, spec in specs.items():
        simulator = LinkSimulator(config, spec)
        result = run_sweep(simulator, sinr_db, batch_size, max_mc_iter, num_target_block_errors,
                           early_stop=early_stop, seed=seed, graph_mode=graph_mode, name=name,
                           on_point=on_point)
        results.append(result)
        entry = result.to_dict()
        entry["sinr_db_at_target_ber"] = result.sinr_at_ber(target_ber)
        report["receivers"][name] = entry
        report["interrupted"] = result.interrupted
        _add_gains(report, results, target_ber)
        if out_dir is not None:
            out = Path(out_dir)
            write_json(out / "results.json", report)
            write_sweep_csv(results, out / "ber.csv")
            plot_ber(results, out / "ber.png", title=_title(config))
        if result.interrupted:
            break
    return report


def _add_gains(report: dict, results: list[SweepResult], target_ber: float) -> None:
    """SINR gain of each receiver over the first one at the target BER (None if a curve misses it)."""
    ref = report["receivers"][results[0].receiver]["sinr_db_at_target_ber"]
    for res in results[1:]:
        at = report["receivers"][res.receiver]["sinr_db_at_target_ber"]
        gain = None if ref is None or at is None else ref - at
        report["receivers"][res.receiver][f"gain_db_vs_{results[0].receiver}"] = gain


def _title(config: LinkConfig) -> str:
    return (f"{config.channel_model}, {config.num_prb} PRB, {config.num_tx_ant}x{config.num_rx_ant}, "
            f"MCS {config.mcs_index} (256-QAM), {config.num_dmrs_symbols} DMRS sym, "
            f"{config.speed_mps[0]:g}-{config.speed_mps[1]:g} m/s")
