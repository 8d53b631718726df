"""The machine a process runs on, as results record it: its CPU's model and instruction sets.

Speeds measured on one CPU say little of another (TensorFlow turns its
oneDNN kernels on by default only on some, `deeprx_tf.layers`), so a
training run's record (``runs.json``) and every benchmark's JSON name the
CPU they ran on.
"""

from __future__ import annotations

import platform
from pathlib import Path

#: Where Linux lists the CPU's model and instruction sets.
CPUINFO = "/proc/cpuinfo"
#: The instruction sets a record names where the CPU has them: those TensorFlow's kernels and its
#: oneDNN default depend on.
RECORDED_CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile")


def read_cpuinfo(cpuinfo: str | Path | None = None) -> tuple[str | None, frozenset[str]]:
    """The model name and the instruction-set flags of the first CPU ``cpuinfo`` lists
    (`CPUINFO` by default); ``(None, frozenset())`` where there is no such file."""
    model, flags = None, None
    try:
        text = Path(cpuinfo or CPUINFO).read_text(errors="replace")
    except OSError:
        return None, frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model is None:
            model = value.strip()
        elif key.strip() == "flags" and flags is None:
            flags = frozenset(value.split())
    return model, flags or frozenset()


def cpu_description(cpuinfo: str | Path | None = None) -> dict:
    """``{"cpu_model": ..., "cpu_flags": [...]}``: the CPU's model name (Python's `platform`
    where ``cpuinfo`` has none) and which of `RECORDED_CPU_FLAGS` it has."""
    model, flags = read_cpuinfo(cpuinfo)
    return {"cpu_model": model or platform.processor() or platform.machine(),
            "cpu_flags": [f for f in RECORDED_CPU_FLAGS if f in flags]}
