"""What every benchmark records next to its numbers, how it writes them, and the oneDNN axis."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import sionna
import tensorflow as tf

from deeprx_tf.machine import cpu_description
from link_sim.results import write_json

RESULTS_DIR = Path(__file__).parent / "results"
#: TensorFlow's oneDNN switch, read once when a process starts: the axis is run as one process per setting.
ONEDNN_SETTINGS = {"onednn_off": "0", "onednn_on": "1"}


def write_result(path: Path, result: dict) -> Path:
    """Add the machine and library versions to ``result`` and write it as JSON."""
    result = dict(result,
                  machine={"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                           **cpu_description()},
                  versions={"tensorflow": tf.__version__, "sionna": sionna.__version__})
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json(path, result)


def benchmark_parser(doc: str, result_name: str) -> argparse.ArgumentParser:
    """The options every benchmark takes (grid, batch, rounds, where its JSON goes) and the hidden
    ``--worker-out`` of its worker processes; a benchmark adds its own."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--num-prb", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / result_name)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    return parser


def run_rounds(script: str, args: list[str], rounds: int, variants: dict[str, list[str]] | None = None,
               settings: dict[str, dict[str, str]] | None = None) -> dict[str, list[dict]]:
    """Run ``script --worker-out FILE *args *variant`` once per round, setting and variant.

    Each run is a fresh process (TensorFlow reads its environment once, and
    ``deeprx train`` trains one model per process), with the
    setting's variables added to its environment; the worker writes its
    JSON to FILE. The variants' order is reversed every other round, so
    none always runs first. Returns the worker results per
    ``"setting/variant"`` (either alone where the other is not given), in
    round order.
    """
    variants, settings = variants or {"": []}, settings or {"": {}}
    results: dict[str, list[dict]] = {}
    for round_index in range(rounds):
        for setting, env in settings.items():
            order = list(variants.items())
            for variant, extra in (order if round_index % 2 == 0 else order[::-1]):
                key = "/".join(part for part in (setting, variant) if part)
                print(f"round {round_index + 1}/{rounds}, {key} ...", flush=True)
                with tempfile.TemporaryDirectory() as tmp:
                    out = Path(tmp) / "worker.json"
                    subprocess.run([sys.executable, script, "--worker-out", str(out), *args, *extra],
                                   check=True, env=dict(os.environ, **env))
                    results.setdefault(key, []).append(json.loads(out.read_text()))
    return results


def run_onednn_rounds(script: str, args: list[str], rounds: int,
                      variants: dict[str, list[str]] | None = None) -> dict[str, list[dict]]:
    """`run_rounds` with TensorFlow's oneDNN kernels off and on (``TF_ENABLE_ONEDNN_OPTS``)."""
    return run_rounds(script, args, rounds, variants,
                      {name: {"TF_ENABLE_ONEDNN_OPTS": value} for name, value in ONEDNN_SETTINGS.items()})


def best_of(runs: list[dict], key: str) -> dict[str, float | None]:
    """Per entry of ``run[key]``, the largest rate over the runs (`None` where no run had one)."""
    best: dict[str, float | None] = {}
    for run in runs:
        for name, rate in run[key].items():
            best[name] = rate if best.get(name) is None else max(best[name], rate or 0.0)
    return best


def tf_error_line(err) -> str:
    """The line of a TensorFlow error that says what is missing (its first line is often only
    "Graph execution error:")."""
    lines = [line.strip() for line in str(getattr(err, "message", err)).splitlines() if line.strip()]
    return next((line for line in lines if "support" in line), lines[0] if lines else type(err).__name__)
