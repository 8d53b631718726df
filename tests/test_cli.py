"""The `deeprx` command line: a real tiny simulation and one-line errors with exit code 2."""

import json

import pytest

from deeprx_tf.cli import main

TINY = ["--num-prb", "1", "--speed", "0,3", "--batch-size", "8", "--max-mc-iter", "1",
        "--sinr", "10,30"]


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_simulate_writes_results(tmp_path, capsys):
    out_dir = tmp_path / "sim"
    main(["simulate", *TINY, "--out", str(out_dir)])
    report = json.loads((out_dir / "results.json").read_text())
    assert report["scenario"]["num_prb"] == 1
    assert set(report["receivers"]) == {"lmmse", "perfect-csi"}
    for entry in report["receivers"].values():
        assert [p["sinr_db"] for p in entry["points"]] == [10.0, 30.0]
        for p in entry["points"]:
            assert {"uncoded_ber", "coded_ber", "bler", "bits", "blocks"} <= set(p)
            assert p["blocks"] == 8
        assert entry["geometric_mean_ber"] < 0
    assert (out_dir / "ber.png").stat().st_size > 1000
    assert (out_dir / "ber.csv").read_text().count("\n") == 5


@pytest.mark.parametrize("args, message", [
    (["--channel", "CDL-Z"], "unknown channel model"),
    (["--mcs-index", "15"], "256-QAM"),
    (["--sinr", "0:10"], "malformed SINR grid"),
    (["--sinr", "10,5"], "strictly increasing"),
    (["--sinr", "0:10:-1"], "step must be positive"),
    (["--receiver", "zf"], "unknown receiver"),
    (["--speed", "fast"], "--speed"),
    (["--num-prb", "x"], "num-prb"),
    (["--bogus"], "No such option"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, args, message):
    code, out, err = run(["simulate", "--out", str(tmp_path / "o"), *args], capsys)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o" / "results.json").exists()


def test_missing_config_file(tmp_path, capsys):
    code, _, err = run(["simulate", "--config", str(tmp_path / "nope.json")], capsys)
    assert code == 2 and "does not exist" in err


def test_unwritable_output(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(["simulate", "--out", str(blocker / "sub")], capsys)
    assert code == 2 and "cannot write" in err and err.count("\n") == 1


def test_existing_results_are_not_clobbered(tmp_path, capsys):
    out_dir = tmp_path / "sim"
    out_dir.mkdir()
    (out_dir / "results.json").write_text('{"keep": true}')
    code, _, err = run(["simulate", "--out", str(out_dir)], capsys)
    assert code == 2 and "--overwrite" in err
    assert json.loads((out_dir / "results.json").read_text()) == {"keep": True}
