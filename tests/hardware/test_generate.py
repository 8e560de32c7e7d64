"""The one generator: the committed .vh, config.tcl and .hwh files are fresh; --check can fail."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pynq_mnist.hardware import generate

# One edit per generated file that --check must catch.
TAMPER = {
    "hw/rtl/mnist_regmap.vh": ("32'h4D4E0100", "32'h4D4E0101"),
    "overlay/config.tcl": ("0x40400000", "0x40410000"),
    "overlay/reference.hwh": ('NAME="NUM_BANKS" VALUE="64"', 'NAME="NUM_BANKS" VALUE="32"'),
    "overlay/reference-kv260.hwh": (
        'NAME="C_SAXIGP2_DATA_WIDTH" VALUE="128"',
        'NAME="C_SAXIGP2_DATA_WIDTH" VALUE="64"',
    ),
}


def test_generated_files_are_fresh() -> None:
    assert generate.stale() == [], "run: python -m pynq_mnist.hardware.generate --write"
    assert generate.main(["--check"]) == 0
    for path, text in generate.render_all().items():
        head = "\n".join(text.splitlines()[:3])
        assert "do not edit" in head and "pynq_mnist.hardware.generate" in head, path


def test_outputs_are_the_four_files() -> None:
    assert sorted(str(p) for p in generate.OUTPUTS) == sorted(TAMPER)


@pytest.fixture
def copy_root(tmp_path: Path) -> Path:
    for name in TAMPER:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(generate.REPO / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("name", sorted(TAMPER))
def test_check_catches_each_stale_file(
    copy_root: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert generate.main(["--check", "--root", str(copy_root)]) == 0
    target = copy_root / name
    old, new = TAMPER[name]
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new, 1))
    assert generate.stale(copy_root) == [Path(name)]
    assert generate.main(["--check", "--root", str(copy_root)]) == 1
    assert f"{name} is stale" in capsys.readouterr().err
    assert generate.main(["--write", "--root", str(copy_root)]) == 0
    assert generate.stale(copy_root) == []


def test_check_catches_a_missing_file(copy_root: Path) -> None:
    (copy_root / "overlay" / "config.tcl").unlink()
    assert generate.main(["--check", "--root", str(copy_root)]) == 1


def test_command_needs_a_mode() -> None:
    with pytest.raises(SystemExit):
        generate.main([])
