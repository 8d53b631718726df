"""``deeprx train --strategy multiworker``: two workers on the loopback address, one shared --out."""

import csv
import json
import os
import socket
import subprocess
import sys

from test_cli import TINY_TRAIN


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_write_one_checkpoint_and_history(tmp_path):
    out = tmp_path / "mw"
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    argv = [sys.executable, "-c", "from deeprx_cli import main; main()", "train", *TINY_TRAIN,
            "--strategy", "multiworker", "--out", str(out)]
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    results = [p.communicate(timeout=600) for p in procs]
    errors = [err[-4000:] for proc, (_, err) in zip(procs, results) if proc.returncode != 0]
    assert not errors, "\n\n".join(errors)
    with open(out / "history.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "epoch" and [r[0] for r in rows[1:]] == ["0", "1"]  # one header, each epoch once
    card = json.loads((out / "model.json").read_text())["card"]
    assert card["complete"] and card["num_replicas"] == 2 and len(card["runs"]) == 1
    assert len(json.loads((out / "runs.json").read_text())) == 1
    # the other worker's temporary backup folders are gone
    assert not [p for p in out.rglob("*") if "workertemp" in p.name]
