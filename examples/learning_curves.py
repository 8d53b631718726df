"""Plot the validation learning curves of several `deeprx train` folders on one figure.

    python examples/learning_curves.py RUN_DIR [RUN_DIR ...] --out curves.png [--metric val_gmber]

A run folder holds ``history.csv`` and either ``model.json`` (what
``deeprx train`` writes) or ``command.txt``, the ``deeprx train`` command
that made it (how the runs under ``docs/training/runs`` are kept): its
steps per epoch and batch size place each epoch on the slots axis.
Writes the PNG and, beside it, the curves as JSON (slots seen and every
logged metric per epoch), so that the numbers travel with the figure.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from deeprx_tf.folders import MODEL_JSON
from deeprx_tf.history import plot_learning_curves, read_learning_curve
from link_sim.results import write_json

COMMAND_FILE = "command.txt"


def recorded_schedule(run: Path) -> dict:
    """``steps_per_epoch`` and ``batch_size`` of the ``deeprx train`` command in ``run/command.txt``
    (the command line's defaults where it gives none); empty where the run has its ``model.json``."""
    if (run / MODEL_JSON).is_file() or not (run / COMMAND_FILE).is_file():
        return {}
    from deeprx_cli.train import train

    words = shlex.split((run / COMMAND_FILE).read_text().splitlines()[0])
    if words[:2] != ["deeprx", "train"]:
        raise SystemExit(f"{run / COMMAND_FILE} is not a deeprx train command")
    params = train.make_context("train", words[2:], resilient_parsing=True).params
    return {"steps_per_epoch": params["steps_per_epoch"], "batch_size": params["batch_size"]}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path,
                        help="training folders (history.csv + model.json or command.txt)")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write (JSON beside it)")
    parser.add_argument("--metric", default="val_gmber")
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)
    curves = {run.name: read_learning_curve(run, **recorded_schedule(run)) for run in args.runs}
    plot_learning_curves(curves, args.out, args.metric, args.title)
    write_json(args.out.with_suffix(".json"), curves)
    for name, curve in curves.items():
        print(f"{name:<20} {args.metric} after {curve['slots'][-1]} slots: {curve[args.metric][-1]:.3f}")
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return curves


if __name__ == "__main__":
    main()
