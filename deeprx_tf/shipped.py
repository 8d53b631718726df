"""The DeepRx models shipped with the package, by name (``default``: trained on the default scenario)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from deeprx_tf.folders import MODEL_JSON
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
    if not (path / MODEL_JSON).is_file():
        raise MissingInputError(f"no shipped DeepRx model {name!r} in {path.parent}; "
                                "pass --checkpoint with a model trained by 'deeprx train'")
    return path


def shipped_models() -> list[str]:
    """Names of the checkpoints shipped in ``deeprx_tf/models``."""
    root = Path(str(resources.files("deeprx_tf") / "models"))
    return sorted(p.name for p in root.iterdir() if (p / MODEL_JSON).is_file()) if root.is_dir() else []


def resolve_checkpoint(path_or_name: str | Path) -> Path:
    """A checkpoint folder from a path or a shipped model's name.

    A path that exists is taken as it is (a local folder named like a
    shipped model wins); otherwise a shipped model of that name is; else
    the path is returned unchanged, for the loader to report as missing.
    """
    path = Path(path_or_name)
    if not path.exists() and str(path_or_name) in shipped_models():
        return shipped_checkpoint(str(path_or_name))
    return path
