"""The data team's notebooks run top to bottom on seeded data (`vidray analytics seed`),
through nbclient, as CI runs them: a cell that raises fails the test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cluster.cli import app

nbclient = pytest.importorskip("nbclient", reason="install the [notebooks] extra")
nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[3] / "notebooks").glob("*.ipynb"))
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data_dir = tmp_path_factory.mktemp("seeded")
    saved = dict(os.environ)
    # The kernel inherits this environment: the same settings, the repo importable.
    os.environ.update(
        VIDRAY_DATA_DIR=str(data_dir),
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    try:
        result = CliRunner().invoke(app, ["analytics", "seed", "--events", "100000"])
        assert result.exit_code == 0, result.output
        yield data_dir
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_there_are_three_notebooks_stored_without_outputs() -> None:
    assert {p.stem for p in NOTEBOOKS} >= {"engagement", "qoe", "growth"}
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_seeded_data(seeded: Path, path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": str(path.parent)}}
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources=resources
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    printed = "".join(
        output.get("text", "") for output in notebook.cells[1].outputs if output.get("text")
    )
    assert "plays" in printed and " 0 events" not in printed
