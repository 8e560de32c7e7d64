"""The draw-a-digit page in headless Chromium at 1280x800 and 390x844 (and 320 px wide): a
smooth hand-drawn digit, errors, Clear, Undo, a tap, the keyboard, layout and the console."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_serve import ARTIFACTS

from pynq_mnist.apps import serve

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "serve.png"
PAD = 280  # canvas pixels per side
WAIT_S = 30


def smooth_three(seed: int = 3) -> list[tuple[float, float]]:
    """A hand-drawn-looking 3 in canvas pixels: two arcs in one stroke, with a little tremor."""
    rng = np.random.default_rng(seed)
    points = []
    for t in np.linspace(0, 1, 40):
        angle = math.radians(-150 + 250 * t)
        radius = 48 + 4 * math.sin(3 * t)
        points.append((138 + radius * math.cos(angle), 92 + 0.9 * radius * math.sin(angle)))
    for t in np.linspace(0, 1, 48):
        angle = math.radians(-95 + 255 * t)
        radius = 58 + 3 * math.sin(2 * t)
        points.append(
            (134 + 1.05 * radius * math.cos(angle), 190 + 0.85 * radius * math.sin(angle))
        )
    return [(x + rng.normal(0, 0.6), y + rng.normal(0, 0.6)) for x, y in points]


STROKE_ONE = [(90.0 + 2 * k, 60.0 + 4 * k) for k in range(40)]  # a slanted line


@pytest.fixture(scope="module")
def server() -> Iterator[serve.DigitServer]:
    with serve.DigitServer(backend="cpu").start() as running:
        yield running


def open_page(driver: Any, server: serve.DigitServer, width: int, height: int) -> None:
    """Load the page in a viewport of exactly ``width`` x ``height`` CSS pixels."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 640},
    )
    driver.get(server.url)
    assert driver.execute_script("return [innerWidth, innerHeight]") == [width, height]


def draw(driver: Any, points: list[tuple[float, float]]) -> None:
    """One pointer stroke through ``points`` (canvas pixels)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    pad = driver.find_element(By.ID, "pad")
    scale, half = pad.size["width"] / PAD, pad.size["width"] / 2
    actions = ActionChains(driver, duration=0)
    first = points[0]
    actions.move_to_element_with_offset(
        pad, round(first[0] * scale - half), round(first[1] * scale - half)
    )
    actions.click_and_hold()
    for x, y in points[1:]:
        actions.move_to_element_with_offset(pad, round(x * scale - half), round(y * scale - half))
    actions.release().perform()


def wait_state(driver: Any, states: tuple[str, ...], strokes: int | None = None) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(_: Any) -> bool:
        data = driver.execute_script(
            "const r = document.getElementById('result');"
            "return [r.dataset.state, r.dataset.strokes]"
        )
        return data[0] in states and (strokes is None or data[1] == str(strokes))

    WebDriverWait(driver, WAIT_S).until(ready)
    return str(driver.execute_script("return document.getElementById('result').dataset.state"))


def shown(driver: Any) -> dict[str, Any]:
    """What the page shows: digit, latency, message, bar values and widths, the 28x28's ink."""
    return driver.execute_script(
        """
        const seen = document.getElementById('seen').getContext('2d').getImageData(0, 0, 28, 28);
        return {
          digit: document.getElementById('digit').textContent,
          latency: document.getElementById('latency').textContent,
          message: document.getElementById('message').textContent,
          values: [...document.querySelectorAll('#bars .value')].map((e) => e.textContent),
          widths: [...document.querySelectorAll('#bars .fill')].map((e) => e.style.width),
          seenInk: seen.data.some((v, i) => i % 4 !== 3 && v > 0),
        };"""
    )


def pad_ink(driver: Any) -> int:
    """White-ish pixels on the drawing pad."""
    return int(
        driver.execute_script(
            """const c = document.getElementById('pad');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 128) n++; return n;"""
        )
    )


def layout(driver: Any) -> dict[str, Any]:
    """Overflow, wrapped lines and the bottom of the backend line."""
    return driver.execute_script(
        """
        const lines = (e) => {  // text lines: distinct tops of the text's boxes
          const range = document.createRange();
          range.selectNodeContents(e);
          return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
        };
        const meta = document.getElementById('meta');
        return {
          overflow: document.documentElement.scrollWidth - innerWidth +
            Math.max(0, ...[...document.querySelectorAll('section *')]
              .filter((e) => e.clientWidth > 0)  // block boxes: does their content stick out?
              .map((e) => e.scrollWidth - e.clientWidth)),
          barLines: [...document.querySelectorAll('#bars > div:not(.track)')].map(lines),
          metaLines: [...document.querySelectorAll(
            '#meta > span, #latency-detail > span')].map(lines).filter((n) => n > 0),
          buttonLines: [...document.querySelectorAll('button')].map(lines),
          metaBottom: meta.getBoundingClientRect().bottom,
          metaClipped: meta.scrollWidth > meta.clientWidth,
          barsBottom: document.getElementById('bars').getBoundingClientRect().bottom,
        };"""
    )


def empty_result(driver: Any) -> dict[str, Any]:
    return {
        "digit": "?",
        "latency": "-",
        "message": driver.find_element("id", "message").text,
        "values": ["-"] * 10,
        "widths": ["0px"] * 10,
        "seenInk": False,
    }


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_page_at_desktop_and_phone_size(
    chromium: Any, server: serve.DigitServer, width: int, height: int, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_page(chromium, server, width, height)
    # A smooth hand-drawn 3: answered, with bars, latency and the 28x28.
    draw(chromium, smooth_three())
    assert wait_state(chromium, ("done",), 1) == "done"
    first = shown(chromium)
    assert first["digit"] == "3" and first["seenInk"] and first["latency"].endswith(" ms")
    assert first["values"][3] == "100.0 %" or float(first["values"][3].split()[0]) > 50
    # Layout: nothing wraps, nothing overflows, the bars and backend line are on screen.
    seen = layout(chromium)
    assert (
        seen["overflow"] == 0 and set(seen["barLines"]) == {1} and set(seen["buttonLines"]) == {1}
    )
    assert not seen["metaClipped"] and set(seen["metaLines"]) == {1}
    assert seen["metaBottom"] <= height
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / f"serve-{width}x{height}.png"
    assert chromium.save_screenshot(str(screenshot))
    if width == 1280 and os.environ.get("PYNQ_MNIST_UPDATE_DOCS") == "1":
        DOCS_SCREENSHOT.write_bytes(screenshot.read_bytes())  # the README's picture, on request

    # An error clears the earlier answer.
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_bytes(b"these are not pixels")
    chromium.find_element(By.ID, "photo").send_keys(str(not_an_image))
    assert wait_state(chromium, ("error",), 2) == "error"
    failed = shown(chromium)
    assert failed == {**empty_result(chromium), "message": failed["message"]}
    assert failed["message"] == (
        "uploaded image: not an image in a format we read (PNG, JPEG, GIF, BMP, WebP or TIFF)"
    )

    # Clear resets everything, latency included; Undo is off with nothing to undo.
    chromium.find_element(By.ID, "clear").click()
    assert shown(chromium) == {**empty_result(chromium), "message": ""}
    assert pad_ink(chromium) == 0 and not chromium.find_element(By.ID, "undo").is_enabled()

    # A tap draws a dot (and is classified like a stroke).
    draw(chromium, [(140.0, 140.0)])
    wait_state(chromium, ("done", "error"), 1)
    dot = pad_ink(chromium)
    assert 250 < dot < 400  # a disc of the pen's 20 px width: pi * 10^2 = 314

    # Undo takes back the last stroke only.
    draw(chromium, STROKE_ONE)
    wait_state(chromium, ("done", "error"), 2)
    assert pad_ink(chromium) > dot
    chromium.find_element(By.ID, "undo").click()
    assert pad_ink(chromium) == dot
    chromium.find_element(By.ID, "undo").click()
    assert pad_ink(chromium) == 0 and shown(chromium)["latency"] == "-"

    # Keyboard: Tab reaches Clear, Undo (once enabled) and Upload photo, each with a visible ring.
    draw(chromium, STROKE_ONE)
    wait_state(chromium, ("done",), 1)
    body = chromium.find_element(By.TAG_NAME, "body")
    body.click()
    order = []
    for _ in range(3):
        chromium.switch_to.active_element.send_keys(Keys.TAB)
        active = chromium.switch_to.active_element
        outline = chromium.execute_script(
            "const s = getComputedStyle(arguments[0]); return [s.outlineStyle, s.outlineWidth]",
            active,
        )
        order.append((active.get_attribute("id"), *outline))
    assert order == [
        ("clear", "solid", "3px"),
        ("undo", "solid", "3px"),
        ("upload", "solid", "3px"),
    ]
    chromium.switch_to.active_element.send_keys(Keys.ENTER)  # Enter on Clear clears
    chromium.find_element(By.ID, "clear").send_keys(Keys.ENTER)
    assert pad_ink(chromium) == 0

    # The console stays clean: no favicon 404, no CSP violation.
    errors = [e for e in chromium.get_log("browser") if e["level"] == "SEVERE"]
    assert [e["message"] for e in errors if "notes.png" not in e["message"]] == [
        e["message"] for e in errors if "/api/classify" in e["message"]
    ]
    assert all("/api/classify" in e["message"] and "400" in e["message"] for e in errors)


# The longest answer the page can show: a fabric backend with cycles and 5-digit latencies.
WIDEST_REPLY = """show({digit: 3, logits: [0, 0, 0, 9, 0, 0, 0, 0, 0, 0],
  confidences: [0, 0, 0, 1, 0, 0, 0, 0, 0, 0], backend: 'fabric', cycles: 1576,
  image: new Array(784).fill(0), server_ms: 12345.6, accelerator_ms: 123.45}, 12345.6);"""


@pytest.mark.parametrize("width", [320, 360, 480, 640, 656, 720, 800, 1024])
def test_nothing_wraps_from_320_px(chromium: Any, server: serve.DigitServer, width: int) -> None:
    open_page(chromium, server, width, 844)
    if width == 320:  # one real answer too
        draw(chromium, smooth_three())
        assert wait_state(chromium, ("done",), 1) == "done"
    chromium.execute_script(WIDEST_REPLY)
    seen = layout(chromium)
    assert (seen["overflow"], set(seen["barLines"]), set(seen["buttonLines"])) == (0, {1}, {1})
    assert not seen["metaClipped"] and set(seen["metaLines"]) == {1}
    assert seen["metaBottom"] <= 844
