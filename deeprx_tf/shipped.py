"""The DeepRx model shipped with the package (trained on the default scenario)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from link_sim.errors import MissingInputError

#: Name of the shipped checkpoint folder inside ``deeprx_tf/models``.
DEFAULT_MODEL = "default"


def shipped_checkpoint(name: str = DEFAULT_MODEL) -> Path:
    """Folder of a checkpoint shipped in ``deeprx_tf/models``.

    Raises
    ------
    FileNotFoundError
        If no such model is installed.
    """
    path = Path(str(resources.files("deeprx_tf") / "models" / name))
    if not (path / "model.json").is_file():
        raise MissingInputError(f"no shipped DeepRx model {name!r} in {path.parent}; "
                                "pass --checkpoint with a model trained by 'deeprx train'")
    return path
