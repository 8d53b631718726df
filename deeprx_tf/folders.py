"""What a checkpoint folder holds: its files' names, and whether it is empty, an interrupted
run, a finished one, or not a deeprx-tf checkpoint. The one place that decides it.

Training (resume or refuse), the command line (``--overwrite``) and the
KD experiments (reuse a finished run) all ask `read_folder`. This module
needs neither TensorFlow nor Sionna.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from link_sim.results import read_json

#: A checkpoint's description (architecture, scenario, model card), float weights, QAT weights.
MODEL_JSON, WEIGHTS, QAT_WEIGHTS = "model.json", "weights.h5", "qat_weights.h5"
#: Its batch-norm statistics per DMRS count (`deeprx_tf.batch_norm`), where it has them.
BATCH_NORM_STATISTICS = "batch_norm_statistics.h5"
#: Where Keras' ``BackupAndRestore`` keeps an interrupted run's state.
BACKUP = "backup"
#: The checkpoint (a folder of its own, inside the run's) of the epoch with the best validation.
BEST = "best"
#: Where ``deeprx train --keep-epochs`` keeps each epoch's checkpoint (``epochs/001``, ...).
EPOCHS = "epochs"
#: The states `read_folder` tells apart.
EMPTY, INTERRUPTED, FINISHED, FOREIGN = "empty", "interrupted", "finished", "foreign"


@dataclasses.dataclass(frozen=True)
class FolderState:
    """A checkpoint folder as `read_folder` found it.

    Attributes
    ----------
    state : "empty", "interrupted", "finished" or "foreign"
        No ``model.json``; a run's card not marked complete; a complete
        card; a ``model.json`` that is not a deeprx-tf checkpoint's.
    meta : dict or None
        The ``model.json`` content (None unless interrupted or finished).
    resumable : bool
        Interrupted, with the state Keras resumes from.
    """

    state: str
    meta: dict | None = None
    resumable: bool = False

    @property
    def card(self) -> dict:
        """The model card (empty where there is none)."""
        return (self.meta or {}).get("card") or {}


def read_folder(folder: str | Path) -> FolderState:
    """The `FolderState` of a checkpoint folder.

    Raises
    ------
    ValueError
        If ``model.json`` is not JSON (`link_sim.results.read_json`).
    """
    folder = Path(folder)
    meta_path = folder / MODEL_JSON
    if not meta_path.is_file():
        return FolderState(EMPTY)
    meta = read_json(meta_path, "checkpoint")
    card = meta.get("card") if isinstance(meta, dict) else None
    if not isinstance(card, dict):
        return FolderState(FOREIGN)
    if card.get("complete"):
        return FolderState(FINISHED, meta)
    return FolderState(INTERRUPTED, meta, resumable=(folder / BACKUP).is_dir())
