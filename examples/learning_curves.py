"""Plot the validation learning curves of several `deeprx train` folders on one figure.

    python examples/learning_curves.py RUN_DIR [RUN_DIR ...] --out curves.png [--metric val_gmber]

Writes the PNG and, beside it, the curves as JSON (slots seen and every
logged metric per epoch), so that the numbers travel with the figure.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from deeprx_tf.history import plot_learning_curves, read_learning_curve
from link_sim.results import write_json


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="training folders (history.csv + model.json)")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write (JSON beside it)")
    parser.add_argument("--metric", default="val_gmber")
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)
    curves = {run.name: read_learning_curve(run) for run in args.runs}
    plot_learning_curves(curves, args.out, args.metric, args.title)
    write_json(args.out.with_suffix(".json"), curves)
    for name, curve in curves.items():
        print(f"{name:<20} {args.metric} after {curve['slots'][-1]} slots: {curve[args.metric][-1]:.3f}")
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return curves


if __name__ == "__main__":
    main()
