"""Both notebooks run headless on the virtual board (nbclient) and are committed without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = ["01_getting_started.ipynb", "02_host_vs_fabric_benchmark.ipynb"]
BENCH_LIMIT = "120"
CELL_TIMEOUT_S = 600


def _outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.extend(str(v) for v in out.get("data", {}).values())
    return "\n".join(parts)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_without_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, name
    assert "PYNQ_MNIST_BACKEND" in nb.cells[1].source  # the first code cell picks the backend


@pytest.mark.sim
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_on_sim(
    name: str, tmp_path: Path, mnist_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYNQ_MNIST_BACKEND", "sim")
    monkeypatch.setenv("PYNQ_MNIST_BENCH_LIMIT", BENCH_LIMIT)
    monkeypatch.setenv("PYNQ_MNIST_DATA", str(mnist_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    repo = str(NOTEBOOK_DIR.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]))
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    text = _outputs_text(nb)
    if name.startswith("01"):
        assert "backend: sim" in text
        assert "identical logits: True" in text
        assert "'cycles':" in text
    else:
        assert "| sim |" in text
        assert f"{BENCH_LIMIT}/{BENCH_LIMIT}" in text
        assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG"
