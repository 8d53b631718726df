"""The shell commands the docs show: found in README.md, docs/ and the model card, checked against the CLI.

A documented ``deeprx`` command must name a command and options that exist
(as its ``--help`` lists them); a documented ``python <script>.py`` must
name a script of the repository whose ``--help`` lists every option it is given.
The fenced ``sh`` / ``bash`` blocks are checked by Sybil (the root
``conftest.py``), the commands in backticks in the prose by
``tests/test_docs.py``, which also runs the fenced ones at a tiny size.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import runpy
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The documents whose commands are checked, in the order a reader meets them.
DOCUMENTS = ("README.md", "docs/train.md", "docs/distill.md", "docs/mimo.md", "docs/export.md",
             "docs/simulate.md", "docs/profile.md", "docs/training.md", "docs/benchmarks.md",
             "docs/REPRODUCTION.md", "deeprx_tf/models/default/MODEL_CARD.md")
#: Shell languages of the fenced blocks whose commands are checked.
SHELL_LANGUAGES = ("sh", "bash")
_SEPARATORS = {"&&", "||", ";", "|"}
_INLINE = re.compile(r"`((?:deeprx|python3?) [^`]+)`")
_OPTION = re.compile(r"(?<![\w-])--[\w-]+")
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def split_commands(text: str) -> list[list[str]]:
    """The commands of a shell text: continuation lines joined, comments dropped, ``&&`` and ``;`` split."""
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        current: list[str] = []
        for word in shlex.split(line, comments=True):
            if word in _SEPARATORS:
                commands.append(current)
                current = []
            else:
                current.append(word)
        commands.append(current)
    return [command for command in commands if command]


def fenced_shell_commands(path: Path) -> list[list[str]]:
    """The commands of ``path``'s fenced sh/bash blocks, in order."""
    return [command for language, body in _FENCE.findall(path.read_text())
            if language in SHELL_LANGUAGES for command in split_commands(body)]


def inline_commands(path: Path) -> list[list[str]]:
    """The ``deeprx ...`` and ``python ...`` commands written in backticks in ``path``'s prose."""
    prose = _FENCE.sub("", path.read_text())
    return [split_commands(text.replace("\n", " "))[0] for text in _INLINE.findall(prose)]


def _is_placeholder(word: str) -> bool:
    return word == "..." or (word.isupper() and word.isalpha())


def _options_of(command) -> set[str]:
    names = set(command.get_help_option_names(command.context_class(command)))
    for param in command.params:
        names.update(param.opts)
        names.update(param.secondary_opts)
    return names


def _check_options(words: list[str], command, where: str) -> None:
    known = _options_of(command)
    for word in words:
        if word.startswith("-") and word != "-" and not _is_number(word):
            name = word.split("=", 1)[0]
            if name not in known:
                raise AssertionError(f"{where}: {name} is not an option ({' '.join(sorted(known))})")


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def check_deeprx_command(args: list[str], where: str) -> None:
    """Raise `AssertionError` unless ``deeprx ARGS`` names a command and options that exist."""
    import click

    from deeprx_cli import cli

    position = 0
    while position < len(args) and args[position].startswith("-"):
        position += 1
    _check_options(args[:position], cli, f"{where}: deeprx")
    if position == len(args) or _is_placeholder(args[position]):
        return
    name = args[position]
    command = cli.get_command(click.Context(cli), name)
    if command is None:
        raise AssertionError(f"{where}: deeprx has no command {name!r}")
    _check_options(args[position + 1:], command, f"{where}: deeprx {name}")


@functools.cache
def script_options(script: Path) -> frozenset[str]:
    """The options ``python SCRIPT --help`` lists, the script run in this process (TensorFlow already imported)."""
    help_text = io.StringIO()
    argv, path = sys.argv, list(sys.path)
    sys.argv, sys.path[:0] = [str(script), "--help"], [str(script.parent)]
    try:
        with contextlib.redirect_stdout(help_text):
            runpy.run_path(str(script), run_name="__main__")
    except SystemExit:
        pass
    finally:
        sys.argv, sys.path[:] = argv, path
    return frozenset(_OPTION.findall(help_text.getvalue()))


def check_python_command(args: list[str], where: str) -> None:
    """Raise `AssertionError` unless ``python SCRIPT ARGS`` names a repository script whose
    ``--help`` lists its options.

    ``python -m ...`` and other interpreters' commands (``python3 -m venv``) are not checked."""
    if not args or not args[0].endswith(".py"):
        return
    script = ROOT / args[0]
    if not script.is_file():
        raise AssertionError(f"{where}: {args[0]} is not a script of the repository")
    known = script_options(script)
    for word in args[1:]:
        if word.startswith("--"):
            name = word.split("=", 1)[0]
            if name not in known:
                raise AssertionError(f"{where}: {args[0]} has no option {name} ({' '.join(sorted(known))})")


def check_command(words: list[str], where: str) -> None:
    """Check one documented command (see the module docstring); others (``pip``, ``.``) pass."""
    if words[0] == "deeprx":
        check_deeprx_command(words[1:], where)
    elif words[0] in ("python", "python3"):
        check_python_command(words[1:], where)


def check_shell_block(example) -> None:
    """Sybil evaluator of a fenced sh/bash block: each of its commands is checked."""
    where = f"{Path(example.path).relative_to(ROOT)}:{example.line}"
    for words in split_commands(example.parsed):
        check_command(words, where)
