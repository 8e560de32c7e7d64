"""The package's layers: no import circle, and no import from a lower layer to a higher one.

The layers, bottom first (docs/architecture.md, "Layers"):

0. ``errors``, ``closing``: what every module may use
1. ``model``, ``deskew``, ``hardware``: the model file and the input transform
   it may name; the hardware description (register map, weight layout, block
   design) and its generators
2. ``contract``, ``data``, ``preprocess``: the arithmetic contract and the
   inputs it takes
3. ``board``, ``sim``: the board runtime (driver, overlay) and the virtual
   board; peers that never import each other (the driver must not know
   whether its device is virtual)
4. ``backends``: the interface, the registry and cpu/sim/fabric
5. ``classifier``, ``training``: the library's user API, quantisation and training
6. ``apps``: command line, benchmarks, server, download; and the package's
   face (``__init__``, ``__main__``), which only the applications import

A module may import its own layer and the ones below. Every import statement
counts, also one inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "pynq_mnist"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE
LAYERS: dict[str, int] = {
    "errors": 0,
    "closing": 0,
    "cache": 0,
    "model": 1,
    "hardware": 1,
    "contract": 2,
    "data": 2,
    "preprocess": 2,
    "deskew": 1,
    "board": 3,
    "sim": 3,
    "backends": 4,
    "classifier": 5,
    "training": 5,
    "apps": 6,
}
# The package's face re-exports the user API: it stands with the applications,
# which alone may import it (for ``__version__``).
FACES = {PACKAGE, f"{PACKAGE}.__main__"}
# Peers in one layer that must not import each other.
APART = {("board", "sim"), ("sim", "board")}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for each import statement in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.append((base, [alias.name for alias in node.names]))
    return [(b, n) for b, n in found if b == PACKAGE or b.startswith(PACKAGE + ".")]


def import_graph(root: Path = PACKAGE_DIR) -> dict[str, set[str]]:
    """Module -> package modules it imports (``from pkg import sub`` counts ``pkg.sub``)."""
    modules = {_module_name(p, root): p for p in root.rglob("*.py")}

    def owner(name: str) -> str:
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for base, names in _imports(path, name):
            submodules = {f"{base}.{n}" for n in names} & modules.keys()
            targets |= submodules
            if len(submodules) < len(names) or not names:
                targets.add(owner(base))
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def layer_of(module: str) -> str:
    """The layer key of a package module (its first component below the package)."""
    return "apps" if module in FACES else module.split(".")[1]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes up a layer, between peers kept apart, or into the package face."""
    problems = []
    for source, targets in sorted(graph.items()):
        if source in FACES:
            continue
        for target in sorted(targets):
            low = layer_of(source)
            high = "apps" if target in FACES else layer_of(target)
            if LAYERS[high] > LAYERS[low]:
                problems.append(
                    f"{source} (layer {LAYERS[low]}) -> {target} (layer {LAYERS[high]}): upward"
                )
            elif (low, high) in APART:
                problems.append(f"{source} -> {target}: {low} and {high} never import each other")
    return problems


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan).

    The package faces are left out: Python runs ``pynq_mnist/__init__.py``
    before any submodule anyway, and nothing inside imports it (checked above).
    """
    graph = {m: t - FACES for m, t in graph.items() if m not in FACES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    graph = import_graph()
    unplaced = sorted({layer_of(m) for m in graph if m not in FACES} - set(LAYERS))
    assert unplaced == [], f"give these a layer in LAYERS: {unplaced}"


def test_no_import_circle() -> None:
    assert circles(import_graph()) == []


def test_no_upward_import() -> None:
    assert upward_imports(import_graph()) == []


@pytest.mark.parametrize(
    ("source", "statement", "problem"),
    [
        ("contract.py", "from .backends import get_backend", "upward"),
        ("board/accel.py", "from ..sim.device import VirtualDevice", "never import each other"),
        ("hardware/regmap.py", "from pynq_mnist.apps import cli", "upward"),
        ("backends/cpu.py", "from .. import Classifier", "upward"),
    ],
)
def test_a_planted_upward_import_is_caught(
    tmp_path: Path, source: str, statement: str, problem: str
) -> None:
    """The checks can fail: copy the package, add one bad import inside a function, look."""
    import shutil

    copy = tmp_path / PACKAGE
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("*.npz", "*.gz", "*.png"))
    target = copy / source
    target.write_text(
        target.read_text(encoding="utf-8") + f"\n\ndef _planted() -> None:\n    {statement}\n"
    )
    problems = upward_imports(import_graph(copy))
    assert len(problems) == 1 and problem in problems[0], problems


def test_a_planted_circle_is_caught(tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / PACKAGE
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("*.npz", "*.gz", "*.png"))
    model = copy / "model.py"
    model.write_text(model.read_text(encoding="utf-8") + "\nfrom . import contract  # noqa\n")
    assert ["pynq_mnist.contract", "pynq_mnist.model"] in circles(import_graph(copy))
