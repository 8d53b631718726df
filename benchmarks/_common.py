"""What every benchmark records next to its numbers, and how it writes them."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import sionna
import tensorflow as tf

from link_sim.results import write_json

RESULTS_DIR = Path(__file__).parent / "results"


def write_result(path: Path, result: dict) -> Path:
    """Add the machine and library versions to ``result`` and write it as JSON."""
    result = dict(result,
                  machine={"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
                  versions={"tensorflow": tf.__version__, "sionna": sionna.__version__})
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json(path, result)
