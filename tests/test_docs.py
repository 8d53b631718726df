"""Every documented command works as written.

The Python blocks and the options of the fenced shell commands are Sybil's
(the root ``conftest.py``); here: the commands written in the prose name
options that exist, and (slow) every fenced ``deeprx`` command runs, in the
order a reader meets them, at a tiny size: the options below are appended,
so each replaces the documented value of a long run (1 PRB, a few steps,
one batch per SINR point, one value per swept list) and everything else
runs as written.
"""

import json
import re
import shutil
from pathlib import Path

import pytest

from doc_commands import DOCUMENTS, ROOT, check_command, fenced_shell_commands, inline_commands

_TRAINING = ["--num-prb", "1", "--steps", "4", "--steps-per-epoch", "2", "--batch-size", "4",
             "--validation-slots", "8", "--validation-sinr", "20", "--channels", "TDL-C", "--dmrs-symbols", "1",
             "--batch-norm-slots", "8"]
#: What each command gets appended to run at a tiny size.
TINY = {
    "simulate": ["--num-prb", "1", "--speed", "0,3", "--batch-size", "8", "--max-mc-iter", "1", "--sinr", "10,30"],
    "train": _TRAINING,
    "distill": _TRAINING,
    # one value per swept list: the grid's size is the run's length, not a different command
    "sweep": [*_TRAINING, "--student-widths", "0.0625", "--teacher-widths", "0.125", "--alphas", "1",
              "--temperatures", "3", "--alpha-reductions", "mean", "--final-seeds", "1", "--sinr", "10,30",
              "--final-batch-size", "8", "--final-max-mc-iter", "1"],
    "export": ["--num-prb", "1", "--calibration-slots", "8"],
    "profile": ["--num-prb", "1", "--measure-inferences", "4", "--measure-steps", "2", "--idle-windows", "1"],
    "batch-norm-statistics": ["--slots", "16"],
    "average": ["--slots", "16"],
}


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_commands_in_the_prose_name_options_that_exist(document):
    commands = inline_commands(ROOT / document)
    for words in commands:
        check_command(words, document)


def test_a_documented_option_that_does_not_exist_is_caught():
    check_command(["deeprx", "train", "--steps", "4"], "here")
    with pytest.raises(AssertionError, match="--stepz is not an option"):
        check_command(["deeprx", "train", "--stepz", "4"], "here")
    with pytest.raises(AssertionError, match="no command 'trian'"):
        check_command(["deeprx", "trian"], "here")
    with pytest.raises(AssertionError, match="has no option --bogus"):
        check_command(["python", "examples/learning_curves.py", "--bogus"], "here")


def _documented_learning_curves():
    for document in DOCUMENTS:
        for words in inline_commands(ROOT / document):
            if words[:2] == ["python", "examples/learning_curves.py"]:
                yield pytest.param(words[2:], id=words[words.index("--out") + 1])


@pytest.mark.parametrize("args", _documented_learning_curves())
def test_the_documented_learning_curves_are_remade_from_the_committed_runs(args, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("learning_curves", ROOT / "examples" / "learning_curves.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    figure = Path(args[args.index("--out") + 1])
    runs = [str(ROOT / arg) for arg in args[:args.index("--out")]]
    script.main([*runs, "--out", str(tmp_path / figure.name)])
    remade = json.loads((tmp_path / figure.name).with_suffix(".json").read_text())
    assert remade == json.loads((ROOT / figure).with_suffix(".json").read_text())


def _inputs_documented_by_their_recipe(folder):
    """The files the commands read that a doc gives as text (the processors CSV of docs/profile.md)."""
    (csv,) = re.findall(r"^```csv\n(.*?)^```", (ROOT / "docs" / "profile.md").read_text(), re.M | re.S)
    (folder / "my_chips.csv").write_text(csv)


@pytest.mark.slow
def test_the_fenced_commands_run_at_a_tiny_size(tmp_path, monkeypatch, capsys):
    from deeprx_cli import main

    for name in ("docs", "examples", "deeprx_tf"):  # the repository's files the commands name
        (tmp_path / name).symlink_to(ROOT / name)
    _inputs_documented_by_their_recipe(tmp_path)
    monkeypatch.chdir(tmp_path)
    for document in DOCUMENTS:
        # each page starts without the results of the pages before (models stay: later pages use them)
        shutil.rmtree(tmp_path / "results", ignore_errors=True)
        for words in fenced_shell_commands(ROOT / document):
            if words[0] != "deeprx":
                continue  # pip and the virtual environment: CI runs README's set-up commands
            argv = words[1:] + TINY[words[1]]
            try:
                main(argv)
            except SystemExit as exc:
                pytest.fail(f"{document}: `{' '.join(words)}` at a tiny size exited with {exc.code}:\n"
                            f"{capsys.readouterr().err}")


def test_the_profile_figures_of_docs_profile_are_the_committed_profiles():
    text = " ".join((ROOT / "docs" / "profile.md").read_text().split())
    results = ROOT / "examples" / "results"
    paper = json.loads((results / "profile_paper" / "profile.json").read_text())
    assert f"{paper['flops']['total_flops'] / 1e9:.3f} GFLOP per slot" in text
    for name, joules in paper["energy_per_inference_j"]["total"].items():
        millijoules = joules * 1e3
        assert f"{name} {millijoules:.0f} mJ" in text or f"{name} {millijoules:.1f} mJ" in text, name
    for folder in ("profile_paper", "profile_default"):  # every file the page says profile writes
        written = re.findall(r"`(\w+\.(?:json|csv|png))`", text.split("It writes", 1)[1].split("`.", 1)[0] + "`")
        assert len(written) == 5 and all((results / folder / name).is_file() for name in written), folder
    shipped = json.loads((results / "profile_default" / "profile.json").read_text())
    assert shipped["about"]["checkpoint"] == "deeprx_tf/models/default"
    assert f"shipped x0.5 model: {shipped['flops']['total_flops'] / 1e9:.3f} GFLOP" in text
