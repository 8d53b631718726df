"""Learning curves of training runs: validation metrics against training slots seen."""

from __future__ import annotations

import csv
from pathlib import Path

from deeprx_tf.folders import MODEL_JSON
from link_sim.errors import InputError, MissingInputError
from link_sim.results import read_json


def read_learning_curve(run_dir: str | Path, steps_per_epoch: int | None = None,
                        batch_size: int | None = None) -> dict:
    """The learning curve of one ``deeprx train`` (or ``distill``) folder.

    Parameters
    ----------
    run_dir : str or Path
        A training folder with ``history.csv`` (Keras' CSV log, one row per
        epoch) and ``model.json`` (its card gives steps per epoch and batch
        size).
    steps_per_epoch, batch_size : int or None
        The run's schedule where its folder has no ``model.json`` (a run kept
        as its log and command only); both or neither.

    Returns
    -------
    dict
        ``{"slots": [...], "steps": [...], <column>: [...]}`` with one entry
        per epoch for every column of ``history.csv`` (``val_gmber``,
        ``val_ber_<sinr>dB``, ``loss``, ...); ``slots`` counts the training
        slots seen at the end of each epoch.
    """
    run = Path(run_dir)
    history, meta = run / "history.csv", run / MODEL_JSON
    given = steps_per_epoch is not None and batch_size is not None
    for path in (history,) if given else (history, meta):
        if not path.is_file():
            raise MissingInputError(f"{path} does not exist: {run} is not a training folder")
    steps_done = None  # the last epoch may be cut short (`deeprx_tf.training.StopAtStep`)
    if not given:
        card = read_json(meta, "checkpoint").get("card", {})
        train, steps_done = card.get("train", {}), card.get("steps_done")
        try:
            steps_per_epoch, batch_size = int(train["steps_per_epoch"]), int(train["batch_size"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{meta} does not record steps_per_epoch and batch_size") from None
    with history.open(newline="") as f:
        rows = list(csv.DictReader(f))
    curve: dict = {"steps": [], "slots": []}
    for row in rows:
        steps = (int(row["epoch"]) + 1) * steps_per_epoch
        steps = steps if steps_done is None else min(steps, steps_done)
        curve["steps"].append(steps)
        curve["slots"].append(steps * batch_size)
        for key, value in row.items():
            if key != "epoch":
                curve.setdefault(key, []).append(float(value))
    return curve


def slots_to_reach(curve: dict, level: float, metric: str = "val_gmber") -> int | None:
    """The training slots a run had seen at the first epoch end where ``metric`` (lower is
    better) was at or below ``level``.

    Parameters
    ----------
    curve : dict
        A `read_learning_curve` output.
    level : float
        The level to reach, say another run's final validation Geometric Mean BER.
    metric : str
        A column of the curve.

    Returns
    -------
    int or None
        Slots seen, `None` if the run never reached ``level``.
    """
    return next((slots for slots, value in zip(curve["slots"], curve[metric]) if value <= level), None)


def training_pace(run_dir: str | Path) -> dict:
    """How fast a finished run trained in its last session: what its card's
    ``train_seconds_this_run`` timed (training, and each epoch's validation and checkpoints),
    per training slot of that session.

    Parameters
    ----------
    run_dir : str or Path
        A finished ``deeprx train`` (or ``distill``) folder.

    Returns
    -------
    dict
        ``{"seconds_per_slot": float or None, "slots": int, "machine": dict or None}``: the
        slots the last session trained (from the epoch it resumed at to the end; `None` per slot
        for a session that only saved a run its previous one had trained) and the CPU it ran on
        (`deeprx_tf.machine.cpu_description`; `None` for a run recorded before runs named it).
    """
    meta = Path(run_dir) / MODEL_JSON
    card = read_json(meta, "checkpoint").get("card", {})
    if not card.get("complete"):
        raise InputError(f"{meta} is not a finished run's card")
    train, last = card["train"], card["runs"][-1]
    slots = (card["steps_done"] - last["first_epoch"] * train["steps_per_epoch"]) * train["batch_size"]
    return {"seconds_per_slot": card["train_seconds_this_run"] / slots if slots else None, "slots": slots,
            "machine": last.get("machine")}


def plot_learning_curves(curves: dict[str, dict], path: str | Path, metric: str = "val_gmber",
                         title: str = "", groups: dict[str, list[str]] | None = None) -> Path:
    """Plot ``metric`` against training slots seen for several runs, one line each.

    Parameters
    ----------
    curves : dict
        Run name -> `read_learning_curve` output.
    path : str or Path
        PNG to write.
    metric : str
        A column of the runs' ``history.csv`` (default: the validation
        Geometric Mean BER).
    title : str
        The figure's title, if any.
    groups : dict, optional
        Group label -> run names: the runs of a group (the seeds of one
        arm, say) share a colour and one legend entry; by default each run
        is its own group.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = groups or {name: [name] for name in curves}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for index, (label, names) in enumerate(groups.items()):
        drawn = [curves[name] for name in names if metric in curves[name]]
        for k, curve in enumerate(drawn):
            ax.plot(curve["slots"], curve[metric], color=f"C{index % 10}", marker="o", markersize=3,
                    alpha=1.0 if len(drawn) == 1 else 0.8,
                    label=label if len(drawn) == 1 else (f"{label} ({len(drawn)} runs)" if k == 0 else None))
    ax.set_xlabel("training slots seen")
    ax.set_ylabel("validation Geometric Mean BER" if metric == "val_gmber" else metric)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
