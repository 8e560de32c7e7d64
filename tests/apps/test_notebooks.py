"""The notebooks run headless on the virtual board (nbclient) and are committed without outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = [
    "01_getting_started.ipynb",
    "02_host_vs_fabric_benchmark.ipynb",
    "03_draw_a_digit.ipynb",
]
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


def _sample_misclassified() -> int:
    """How many of the shipped sample's images the bundled model gets wrong (reference model)."""
    from helpers import model_logits
    from reference import reference_digits

    from pynq_mnist.data import load_sample
    from pynq_mnist.model import load_model

    images, labels = load_sample()
    model = load_model(None)
    logits = model_logits(model, images)
    return int(np.sum(reference_digits(logits) != labels))


@pytest.mark.sim
@pytest.mark.parametrize(
    ("name", "data"),
    [*((name, "full") for name in NOTEBOOKS), ("02_host_vs_fabric_benchmark.ipynb", "none")],
)
def test_notebook_runs_on_sim(
    name: str, data: str, tmp_path: Path, mnist_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``data`` none: an empty $PYNQ_MNIST_DATA and cache, as on a fresh board."""
    monkeypatch.setenv("PYNQ_MNIST_BACKEND", "sim")
    monkeypatch.setenv("PYNQ_MNIST_BENCH_LIMIT", BENCH_LIMIT)
    if data == "full":
        monkeypatch.setenv("PYNQ_MNIST_DATA", str(mnist_dir))
    else:
        (tmp_path / "empty").mkdir()
        monkeypatch.setenv("PYNQ_MNIST_DATA", str(tmp_path / "empty"))
        monkeypatch.setenv("PYNQ_MNIST_CACHE", str(tmp_path / "empty"))
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
    elif name.startswith("02"):
        assert "| sim |" in text
        assert f"{BENCH_LIMIT}/{BENCH_LIMIT}" in text
        assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG"
        first = "data: MNIST test set, 10000 images" if data == "full" else "data: shipped sample"
        assert first in text
    else:
        assert "backend: sim, port " in text and '<iframe id="pynq-mnist-page"' in text
        assert "'backend': 'sim'" in text and "'digit': 7" in text
        assert f"misclassified: {_sample_misclassified()} of 1000" in text
        assert "image/png" in json.dumps([c.get("outputs") for c in nb.cells])
