#!/usr/bin/env bash
# One board-stack CI lane: a venv from PYTHON with PINS installed exactly, the
# package installed editable from this clone (the tests read hw/, overlay/ and
# notebooks/ from the checkout), then the lane's share of the tests.
#
#   scripts/ci-lane.sh [--install-only] NAME PYTHON [PIN...]
#   e.g. scripts/ci-lane.sh pynq-3.0.1 ~/.pyenv/versions/3.10.13/bin/python numpy==1.21.5
#
# The lane runs every test under tests/ except what needs tools a PYNQ image
# does not have: tests/hw (cocotb RTL testbenches), tests/training (torch)
# and tests/test_lint.py (ruff; a check of the source, not of the platform);
# those run on the main lane. Selecting by exclusion picks up new test files
# without editing this script. Extra pytest arguments: $PYNQ_MNIST_LANE_PYTEST.
# Venvs live in $PYNQ_MNIST_CI_VENVS (default build/ci-venvs) and are reused:
# pip runs again only when the pins, setup.py or the checkout's path change.
# --install-only prepares the venv and stops (.ci/run does that in the background).
set -euo pipefail
cd "$(dirname "$0")/.."

install_only=0
if [[ ${1:-} == --install-only ]]; then
  install_only=1
  shift
fi
if (($# < 2)); then
  echo "usage: $0 [--install-only] NAME PYTHON [PIN...]" >&2
  exit 2
fi
name=$1
python=$2
shift 2
pins=("$@")

venv="${PYNQ_MNIST_CI_VENVS:-build/ci-venvs}/$name"
log="$venv.install.log"
mkdir -p "$(dirname "$venv")"
stamp=$( (pwd; printf '%s\n' "${pins[@]}"; cat setup.py) | sha256sum | cut -d' ' -f1)
if [[ -x "$venv/bin/python" && $(cat "$venv.stamp" 2>/dev/null) == "$stamp" ]]; then
  echo "[$name] $venv is up to date"
else
  rm -f "$venv.stamp"
  [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
  printf '%s\n' "${pins[@]}" >"$venv.pins"
  # The pins are also constraints, so that the package's own requirements
  # (matplotlib, pynq's dependencies...) cannot upgrade them.
  echo "[$name] installing into $venv (log: $log)"
  if ! "$venv/bin/python" -m pip install -q -c "$venv.pins" "${pins[@]}" -e ".[sim,test]" \
    >"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" | tail -n 30 >&2
    echo "[$name] pip install failed" >&2
    exit 1
  fi
  echo "$stamp" >"$venv.stamp"
fi
"$venv/bin/python" - "${pins[@]}" <<'EOF'
"""Print the lane's stack and fail if pip did not honour a pin."""
import platform
import sys
from importlib.metadata import version

wanted = dict(pin.split("==", 1) for pin in sys.argv[1:] if "==" in pin)
got = {name: version(name) for name in ["numpy", "Pillow", "pynq", "matplotlib", "pytest"]}
print(f"python {platform.python_version()}, " + ", ".join(f"{k} {v}" for k, v in got.items()))
wrong = [f"{name} {version(name)} != {pin}" for name, pin in wanted.items()
         if not version(name).startswith(pin.rstrip("*").rstrip("."))]
if wrong:
    sys.exit("pins not honoured: " + "; ".join(wrong))
EOF
((install_only)) && exit 0

# shellcheck disable=SC2086  # PYNQ_MNIST_LANE_PYTEST is a list of arguments
exec "$venv/bin/python" -m pytest tests --ignore=tests/hw --ignore=tests/training/test_train.py \
  --ignore=tests/training/test_train_deskew.py \
  --ignore=tests/test_lint.py \
  -p no:cacheprovider ${PYNQ_MNIST_LANE_PYTEST:-}
