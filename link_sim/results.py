"""Safe result files: atomic writes and no silent overwrites."""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from link_sim.errors import InputError, MissingInputError, OutputExistsError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, write: Callable[[str], None]) -> Path:
    """Write a file through a temporary name in the same folder, then rename.

    A reader never sees a half-written file, and an interrupted write leaves
    the previous file (if any) untouched.

    Parameters
    ----------
    path : str or Path
        Final file name.
    write : callable
        ``write(tmp_path)`` writes the whole content to ``tmp_path``.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a result file is as any other
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _strict(data: Any) -> Any:
    """``data`` with every NaN or infinite float replaced by `None` (JSON has neither)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _strict(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_strict(v) for v in data]
    return data


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented, strict JSON (a NaN or infinite float becomes ``null``), atomically."""

    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(_strict(data), f, indent=2, allow_nan=False)
            f.write("\n")

    return write_atomic(path, write)


def read_json(path: str | Path, what: str) -> Any:
    """Read a JSON file; a missing or malformed file is a `FileNotFoundError`/`ValueError`
    naming ``what`` it should have been."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{what} file {path} does not exist")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{what} file {path} is not valid JSON: {err}") from None


def dataclass_from_dict(cls, data: Any, what: str):
    """``cls(**data)`` for a frozen config dataclass, with unknown keys named in the error."""
    import dataclasses

    if not isinstance(data, dict):
        raise InputError(f"a {what} must be a JSON object, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"unknown {what} key(s) {', '.join(unknown)}; "
                         f"known keys are {', '.join(sorted(known))}")
    return cls(**data)


#: Lock file of an output folder in use (`prepare_output_dir`).
LOCK_FILE = ".output.lock"
# open lock files of the folders this process holds, kept open until it exits
_held_locks: dict[Path, Any] = {}


@atexit.register
def _release_locks() -> None:
    """Close the held lock files as the process exits (the locks go with them)."""
    while _held_locks:
        _held_locks.popitem()[1].close()


def _lock(out: Path) -> None:
    """Hold an exclusive lock on ``out`` until this process exits (a killed one releases it too)."""
    key = out.resolve()
    if key in _held_locks:
        return
    handle = open(out / LOCK_FILE, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise InputError(f"{out} is in use by another run; wait for it to finish or choose another "
                         "--out folder") from None
    _held_locks[key] = handle


@contextlib.contextmanager
def removed_if_refused(out_dir: str | Path):
    """Remove ``out_dir`` again if the block creates it and then refuses the user's input
    (`InputError`) before writing anything into it: a refused command leaves nothing behind."""
    out = Path(out_dir)
    existed = out.exists()
    try:
        yield
    except InputError:
        if not existed and out.is_dir() and all(p.name == LOCK_FILE for p in out.iterdir()):
            handle = _held_locks.pop(out.resolve(), None)
            if handle is not None:
                handle.close()
            shutil.rmtree(out, ignore_errors=True)
        raise


def prepare_output_dir(out_dir: str | Path, result_names: Iterable[str], overwrite: bool,
                       lock: bool = True) -> Path:
    """Create ``out_dir`` and check, before any work starts, that results can be written.

    Parameters
    ----------
    out_dir : str or Path
        Folder for the results; created if missing.
    result_names : iterable of str
        File names the command will write into ``out_dir``.
    overwrite : bool
        Whether existing results may be replaced.
    lock : bool
        Hold the folder for this process (``LOCK_FILE``, an advisory lock the
        operating system releases when the process ends, killed or not), so
        that a second run into it is refused instead of mixing results.

    Raises
    ------
    FileExistsError
        If a result already exists and ``overwrite`` is false.
    ValueError
        If the folder cannot be created or written to.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"output path {out} exists and is not a folder")
    existing = [name for name in result_names if (out / name).exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{out / existing[0]} already exists; pass --overwrite to replace it "
            "or choose another --out folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as err:
        raise InputError(f"cannot write to output folder {out}: {err.strerror or err}") from None
    if lock:
        _lock(out)
    return out
