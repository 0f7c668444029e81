"""A node that joins after `vidray up` gets an upload edge: the scheduler's periodic
reconcile starts one on every live node that has none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[4]


def test_a_node_that_joins_later_gets_an_upload_edge(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDRAY_", "RAY_"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.multinode", str(tmp_path / "data"), str(port)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    states = answer["states"]
    assert answer["head"] != answer["new"]
    assert states[answer["head"]] == "ok"
    # Both nodes of this test share one machine, so the new node's edge finds the port
    # taken by the head's: in a real cluster each node has its own address. What matters
    # here is that the reconcile placed an edge on the new node and reports its state
    # instead of failing the others.
    assert "VIDRAY_UPLOAD_PORT" in states[answer["new"]], states
