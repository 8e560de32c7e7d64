"""Which overlay for which board: ``$BOARD`` as each PYNQ image sets it (board/detect.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pynq_mnist.board import detect
from pynq_mnist.errors import BackendUnavailable


@pytest.mark.parametrize(
    ("env", "key"),
    [("Pynq-Z1", "pynq-z1"), ("Pynq-Z2", "pynq-z2"), ("KV260", "kv260"), ("ZCU104", "zcu104"),
     ("Ultra96V2", "ultra96v2")],
)  # fmt: skip
def test_a_known_board_without_its_overlay_says_how_to_build_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: str, key: str
) -> None:
    monkeypatch.setattr(detect, "OVERLAYS_DIR", tmp_path)
    monkeypatch.setenv("BOARD", env)
    with pytest.raises(BackendUnavailable) as info:
        detect.find_bitstream()
    bit, hwh = tmp_path / env / "mnist.bit", tmp_path / env / "mnist.hwh"
    assert str(info.value) == (
        f"no mnist overlay for board {env}: missing {bit}, {hwh}; "
        f"build it with make -C overlay BOARD={key} (overlay/README.md)"
    )


def test_an_unknown_board_lists_the_supported_ones(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(detect, "OVERLAYS_DIR", tmp_path)
    monkeypatch.setenv("BOARD", "ZCU111")
    with pytest.raises(BackendUnavailable) as info:
        detect.find_bitstream()
    assert str(info.value).endswith(
        "; overlays are built for Pynq-Z1, Pynq-Z2, KV260, ZCU104, Ultra96V2"
    )
