#!/usr/bin/env bash
# ARM check: the CPU backend, the preprocessing and the CLI give the same bits
# on ARM as on x86-64: armhf is the PYNQ-Z1/Z2's Cortex-A9 (32-bit), arm64 the
# Cortex-A53 of the KV260, ZCU104 and Ultra96-V2 (64-bit).
#
#   sudo bash scripts/arm-check.sh --arch armhf   # PYNQ_MNIST_DATA: the MNIST directory
#   sudo bash scripts/arm-check.sh --arch arm64
#
# Builds once a Debian bookworm root of that architecture with Debian's
# python3-numpy, python3-pil, python3-pytest and python3-hypothesis
# (debootstrap, second stage under qemu-user), then runs there, under qemu, the
# tests that need neither pynq nor a simulator: tests/core/test_golden.py
# (pixels and logits pinned on x86-64), core/test_golden_deskew.py (the
# deskewed test set), core/test_deskew.py, core/test_contract.py,
# core/test_preprocess.py and apps/test_cli.py (-m "not sim").
# Needs root (chroot, binfmt_misc); apt installs qemu-user-static, debootstrap
# and binfmt-support when they are missing. The root lives in $ARM_ROOT
# (default /var/tmp/pynq-mnist-ARCH, about 300 MB) and is reused. Building it
# takes longer than CI can afford, so CI does not run this; see README.md,
# "ARM (32-bit and 64-bit)".
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: arm-check.sh --arch armhf|arm64"
arch=
while (($#)); do
  case $1 in
    --arch)
      (($# >= 2)) || { echo "arm-check: --arch needs a value (armhf or arm64)" >&2; exit 2; }
      arch=$2
      shift 2
      ;;
    --arch=*)
      arch=${1#--arch=}
      shift
      ;;
    -h | --help)
      echo "$usage"
      exit 0
      ;;
    *)
      echo "arm-check: unknown argument '$1'; $usage" >&2
      exit 2
      ;;
  esac
done
# The Debian architecture and the binfmt entry of qemu-user-static that runs it.
case $arch in
  armhf) emulator=qemu-arm ;;
  arm64) emulator=qemu-aarch64 ;;
  '')
    echo "arm-check: --arch is required; $usage" >&2
    exit 2
    ;;
  *)
    echo "arm-check: unknown architecture '$arch' (armhf or arm64)" >&2
    exit 2
    ;;
esac

root="${ARM_ROOT:-/var/tmp/pynq-mnist-$arch}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
data="${PYNQ_MNIST_DATA:-$(cd .. && pwd)/shared/data/mnist}"
packages=python3,python3-numpy,python3-pil,python3-pytest,python3-hypothesis
ready="$root/.pynq-mnist-ready"

if [[ $(id -u) -ne 0 ]]; then
  echo "arm-check: needs root (debootstrap, chroot, binfmt_misc)" >&2
  exit 2
fi
if [[ ! -f $data/t10k-images-idx3-ubyte.gz ]]; then
  echo "arm-check: MNIST not found in $data: set PYNQ_MNIST_DATA" >&2
  exit 2
fi

# One run per root at a time: a second one would rebuild or recopy it under the first.
exec {lock}>"$root.lock"
if ! flock -n "$lock"; then
  echo "arm-check: another run is using $root" >&2
  exit 2
fi

missing=()
for package in qemu-user-static debootstrap binfmt-support; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Let the kernel hand ARM executables to qemu (also inside the chroot: flag F).
mountpoint -q /proc/sys/fs/binfmt_misc ||
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable "$emulator"

if [[ ! -f $ready ]]; then
  start=$SECONDS
  echo "arm-check: building $root (Debian bookworm $arch)"
  rm -rf "$root"
  debootstrap --arch="$arch" --foreign --variant=minbase --include="$packages" \
    bookworm "$root" "$mirror"
  chroot "$root" /debootstrap/debootstrap --second-stage
  touch "$ready"
  echo "arm-check: root built in $((SECONDS - start)) s"
fi

# A fresh copy of the checkout (tracked and untracked files, not build output) and the data.
work="$root/work"
rm -rf "$work"
mkdir -p "$work/pynq-mnist" "$work/mnist"
git ls-files -z --cached --others --exclude-standard | grep -zv '^build/' |
  xargs -0 cp --parents -t "$work/pynq-mnist"
cp "$data"/t10k-* "$work/mnist/"

# Run a command in the root, with a clean environment.
in_root() {
  chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 \
    PYNQ_MNIST_DATA=/work/mnist PYTHONPATH=/work/pynq-mnist "$@"
}

mount -t proc proc "$root/proc"
trap 'umount "$root/proc"' EXIT
in_root /usr/bin/python3 -c 'import platform, struct, numpy, PIL
bits = 8 * struct.calcsize("P")
print(f"arm-check: {platform.machine()}, {bits}-bit Python {platform.python_version()}, "
      f"numpy {numpy.__version__}, Pillow {PIL.__version__}")'
start=$SECONDS
status=0
# Deselected: it checks the sim backend's message about Verilator, and the root has no pynq.
in_root /bin/sh -c 'cd /work/pynq-mnist && exec python3 -m pytest -p no:cacheprovider \
  -m "not sim" --deselect tests/apps/test_cli.py::test_sim_without_verilator_exit_2 \
  tests/core/test_golden.py tests/core/test_golden_deskew.py tests/core/test_deskew.py \
  tests/core/test_contract.py tests/core/test_preprocess.py \
  tests/apps/test_cli.py' ||
  status=$?
echo "arm-check: $arch tests took $((SECONDS - start)) s under qemu; exit status $status"
exit "$status"
