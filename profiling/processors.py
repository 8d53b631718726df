"""Processors and the paper's metric (0): energy per inference = FLOPs / (FLOP/s per W).

The six processors of the paper live in ``profiling/data/processors.json``
with their sources and assumptions; a user adds or replaces entries with a
JSON file (same fields, a list or ``{"processors": [...]}``) or a CSV file
with the columns ``name, kind, number_format, peak_flops, tdp_w,
assumptions, source``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from importlib import resources
from pathlib import Path

from link_sim.errors import InputError, MissingInputError
from link_sim.results import dataclass_from_dict, read_json

DATA_FILE = "processors.json"


@dataclasses.dataclass(frozen=True)
class Processor:
    """A processor as metric (0) sees it.

    Parameters
    ----------
    name : str
    kind : str
        ``CPU``, ``GPU``, ``TPU``, ...
    number_format : str
        Number format of ``peak_flops`` (``fp32``, ``int8``, ...).
    peak_flops : float
        Peak operations per second [FLOP/s].
    tdp_w : float
        Thermal design power [W].
    assumptions : str
        How the peak was derived.
    source : str
        Where the figures come from.
    """

    name: str
    kind: str
    number_format: str
    peak_flops: float
    tdp_w: float
    assumptions: str = ""
    source: str = ""

    def __post_init__(self):
        if not self.name:
            raise InputError("a processor needs a name")
        for field in ("peak_flops", "tdp_w"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise InputError(f"processor {self.name!r}: {field} must be a positive finite number, "
                                 f"got {value!r}")

    @property
    def flops_per_watt(self) -> float:
        """Efficiency [FLOP/s per W] = peak / TDP."""
        return self.peak_flops / self.tdp_w

    def energy_j(self, flops: float) -> float:
        """Metric (0): energy [J] of ``flops`` operations at peak efficiency."""
        return flops / self.flops_per_watt

    def to_dict(self) -> dict:
        return dict(dataclasses.asdict(self), flops_per_watt=self.flops_per_watt)


def paper_processors() -> list[Processor]:
    """The six processors of the paper (Xeon Gold 5320/5220, Xeon E5-2620 v4,
    Core i7-8650U, Coral Edge TPU, RTX 2080 Ti)."""
    text = resources.files("profiling").joinpath("data", DATA_FILE).read_text()
    return [dataclass_from_dict(Processor, p, "processor") for p in json.loads(text)["processors"]]


def read_processors(path: str | Path) -> list[Processor]:
    """Processors from a user's JSON or CSV file (see the module docstring)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        if not path.is_file():
            raise MissingInputError(f"processor file {path} does not exist")
        try:
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                rows = list(reader)
        except (csv.Error, UnicodeDecodeError) as err:  # a field over csv's limit, a binary file
            raise InputError(f"processor file {path} is not a readable CSV: {err}") from None
        fields = dataclasses.fields(Processor)
        required = [f.name for f in fields if f.default is dataclasses.MISSING]
        columns = {name.strip() for name in reader.fieldnames or ()}
        missing = [name for name in required if name not in columns]
        if missing:
            optional = [f.name for f in fields if f.name not in required]
            raise InputError(f"processor file {path} lacks the column(s) {', '.join(missing)}: "
                             f"its header names {', '.join(required)} (and optionally "
                             f"{', '.join(optional)})")
        entries = []
        for row in rows:
            try:
                row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
                row["peak_flops"] = float(row["peak_flops"])
                row["tdp_w"] = float(row["tdp_w"])
            except (KeyError, ValueError) as err:
                raise InputError(f"processor file {path}: each row needs numeric peak_flops and "
                                 f"tdp_w ({err})") from None
            entries.append(row)
    else:
        data = read_json(path, "processor")
        entries = data.get("processors") if isinstance(data, dict) else data
        if not isinstance(entries, list):
            raise InputError(f"processor file {path} must hold a list of processors "
                             "or {\"processors\": [...]}")
    processors = []
    for entry in entries:
        try:
            processors.append(dataclass_from_dict(Processor, entry, "processor"))
        except TypeError as err:  # a missing field
            raise InputError(f"processor file {path}: {err}") from None
    if not processors:
        raise InputError(f"processor file {path} lists no processors")
    return processors


def merge_processors(base: list[Processor], extra: list[Processor]) -> list[Processor]:
    """``base`` with ``extra`` appended; an entry of ``extra`` replaces one of the same name."""
    names = {p.name for p in extra}
    return [p for p in base if p.name not in names] + list(extra)


def energy_table(flops: dict[str, float], processors: list[Processor]) -> dict[str, dict[str, float]]:
    """Metric (0) for several FLOP counts on several processors.

    Parameters
    ----------
    flops : dict
        Item (``total``, a block, a layer) -> FLOPs per inference.
    processors : list of Processor

    Returns
    -------
    dict
        Processor name -> item -> energy per inference [J].
    """
    return {p.name: {item: p.energy_j(f) for item, f in flops.items()} for p in processors}
