"""``pynq-mnist serve``: page, JSON API, error replies, the shared accelerator, load test."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from reference import reference_digits, reference_logits

import pynq_mnist
from pynq_mnist.apps import cli, serve
from pynq_mnist.data import load_sample
from pynq_mnist.errors import AcceleratorError
from pynq_mnist.model import default_model_path, load_model
from pynq_mnist.preprocess import load_image

SAMPLES = Path(pynq_mnist.__file__).resolve().parent / "samples"
RAW = "application/octet-stream"
UNREADABLE = "not an image in a format we read (PNG, JPEG, GIF, BMP, WebP or TIFF)"
BLANK = "no digit found: the image is blank or too faint; draw or photograph a darker digit"


def request(
    server: serve.DigitServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, Any]:
    """(status, content type, decoded body: JSON as a dict, else text)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        kind = response.headers.get("Content-Type", "")
        data = response.read()
        return response.status, kind, json.loads(data) if "json" in kind else data.decode()
    finally:
        connection.close()


def classify(server: serve.DigitServer, body: bytes, kind: str) -> tuple[int, dict[str, Any]]:
    status, _, reply = request(server, "POST", "/api/classify", body, {"Content-Type": kind})
    return status, reply


def expected_reply(image: np.ndarray) -> tuple[list[int], int, np.ndarray]:
    """Logits, digit and confidences of the bundled model, computed independently."""
    model = load_model(None)
    logits = reference_logits(model.w1, model.w2, model.shift_l1, model.shift_l2, image)
    scaled = logits[0] * model.logit_scale
    weights = np.exp(scaled - scaled.max())
    return logits[0].tolist(), int(reference_digits(logits)[0]), weights / weights.sum()


@pytest.fixture
def cpu_server() -> Iterator[serve.DigitServer]:
    with serve.DigitServer(backend="cpu").start() as server:
        yield server


def test_page_and_health(cpu_server: serve.DigitServer) -> None:
    status, kind, page = request(cpu_server, "GET", "/")
    assert (status, kind) == (200, "text/html; charset=utf-8")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    for element in ('id="pad"', 'id="clear"', 'id="photo"', 'id="seen"', 'id="bars"'):
        assert element in page
    assert "pointerdown" in page and "touch-action: none" in page
    status, kind, health = request(cpu_server, "GET", "/api/health")
    assert (status, kind) == (200, "application/json")
    digest = hashlib.sha256(default_model_path().read_bytes()).hexdigest()
    assert health == {"status": "ok", "backend": "cpu", "model": "default.npz",
                      "model_sha256": digest, "requests": 0, "errors": 0}  # fmt: skip
    assert request(cpu_server, "GET", "/nothing")[::2] == (404, {"error": "no such page: /nothing"})


@pytest.mark.parametrize(
    ("name", "kind"), [("digit_7_0.png", "image/png"), ("photo_3_mnist18.jpg", "image/jpeg")]
)
def test_image_files_are_preprocessed_like_infer(
    cpu_server: serve.DigitServer, name: str, kind: str
) -> None:
    path = SAMPLES / name
    status, reply = classify(cpu_server, path.read_bytes(), kind)
    assert status == 200
    seen = load_image(path)  # what 'pynq-mnist infer' classifies
    assert reply["image"] == seen.ravel().tolist()
    logits, digit, probabilities = expected_reply(seen.reshape(1, 784))
    assert reply["logits"] == logits and reply["digit"] == digit == int(name.split("_")[1])
    np.testing.assert_allclose(reply["confidences"], probabilities, atol=1e-6)
    assert reply["backend"] == "cpu" and reply["cycles"] is None
    assert 0 < reply["accelerator_ms"] <= reply["server_ms"]


def test_raw_pixels_are_used_as_they_are(
    cpu_server: serve.DigitServer, rng: np.random.Generator
) -> None:
    image = rng.integers(0, 256, (1, 784), dtype=np.uint8)
    status, reply = classify(cpu_server, image.tobytes(), RAW + "; charset=binary")
    assert status == 200 and reply["image"] == image[0].tolist()
    logits, digit, _ = expected_reply(image)
    assert reply["logits"] == logits and reply["digit"] == digit


def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


IMAGE_FORMATS = "(PNG, JPEG, GIF, BMP, WebP or TIFF)"


def test_bad_requests_get_one_line_and_the_server_keeps_serving(
    cpu_server: serve.DigitServer,
) -> None:
    assert classify(cpu_server, b"not an image", "image/png") == (
        400,
        {"error": serve.UPLOAD_PREFIX + UNREADABLE},
    )
    status, reply = classify(cpu_server, _png(np.full((50, 50), 255, np.uint8)), "image/png")
    assert (status, reply) == (400, {"error": serve.UPLOAD_PREFIX + BLANK})
    assert classify(cpu_server, bytes(783), RAW) == (
        400,
        {"error": "raw input must be exactly 784 bytes, got 783"},
    )
    assert classify(cpu_server, b"", "image/png") == (
        400,
        {"error": "empty body: send an image file or 784 raw bytes"},
    )
    assert request(cpu_server, "POST", "/api/other", b"x")[::2] == (
        404,
        {"error": "no such endpoint: /api/other"},
    )
    # Over the limit: refused from the header alone, before any body is sent.
    with socket.create_connection(("127.0.0.1", cpu_server.port), timeout=10) as raw:
        raw.sendall(
            b"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
            + f"Content-Length: {serve.MAX_BODY_BYTES + 1}\r\n\r\n".encode()
        )
        answer = raw.makefile("rb").read().decode()
    assert answer.startswith("HTTP/1.1 413 ")
    limit = serve.MAX_BODY_BYTES
    assert answer.endswith(
        json.dumps({"error": f"body of {limit + 1} bytes is over the limit of {limit}"})
    )
    with socket.create_connection(("127.0.0.1", cpu_server.port), timeout=10) as raw:
        raw.sendall(
            b"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n\r\n"
        )
        answer = raw.makefile("rb").read().decode()
    assert answer.startswith("HTTP/1.1 411 ")
    assert answer.endswith('{"error": "Content-Length required"}')

    status, reply = classify(cpu_server, (SAMPLES / "digit_4_4.png").read_bytes(), "image/png")
    assert status == 200 and reply["digit"] == 4
    health = request(cpu_server, "GET", "/api/health")[2]
    assert (health["requests"], health["errors"]) == (8, 7)


def test_backend_failures_get_500_and_the_server_keeps_serving(
    cpu_server: serve.DigitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = bytes(784)
    monkeypatch.setattr(
        cpu_server.service,
        "classify",
        lambda _: (_ for _ in ()).throw(AcceleratorError("DMA\nstuck")),
    )
    assert classify(cpu_server, image, RAW) == (500, {"error": "classification failed: DMA stuck"})
    monkeypatch.setattr(
        cpu_server.service, "classify", lambda _: (_ for _ in ()).throw(RuntimeError("boom"))
    )
    assert classify(cpu_server, image, RAW) == (
        500,
        {"error": "internal error: RuntimeError: boom"},
    )
    monkeypatch.undo()
    assert classify(cpu_server, image, RAW)[0] == 200
    health = request(cpu_server, "GET", "/api/health")[2]
    assert (health["requests"], health["errors"]) == (3, 2)


@pytest.mark.sim
def test_sim_shares_one_accelerator_under_load() -> None:
    """8 clients x 50 requests on the virtual board: all equal to cpu, one transfer at a time."""
    images, _ = load_sample()
    with serve.DigitServer(backend="sim").start() as server:
        accel = server.service.backend.accel
        driver_classify = accel.classify
        in_flight, most = 0, 0
        guard = threading.Lock()

        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal in_flight, most
            with guard:
                in_flight += 1
                most = max(most, in_flight)
            try:
                return driver_classify(*args, **kwargs)
            finally:
                with guard:
                    in_flight -= 1

        accel.classify = counted
        report = serve.load_test(server, images, clients=8, requests=50)
        assert (report["correct"], report["requests"], report["wrong"]) == (400, 400, [])
        assert report["up_after"] and most == 1

        status, reply = classify(server, images[0].tobytes(), RAW)
        assert status == 200 and reply["backend"] == "sim"
        # layer 1 alone needs 784 * 128 / banks MAC cycles; 64 banks
        assert isinstance(reply["cycles"], int) and reply["cycles"] >= 784 * 128 // 64


def test_load_test_command_on_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["serve", "--load-test", "--backend", "cpu", "--clients", "8", "--requests", "50"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("data: ")
    assert re.fullmatch(
        r"load test on cpu: 8 clients x 50 requests: 400/400 correct \(vs cpu\), \d+ requests/s, "
        r"latency p50 [\d.]+ ms, p99 [\d.]+ ms, server up after: True",
        out[1],
    )


def test_serve_setup_errors_exit_2(
    cpu_server: serve.DigitServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", "--port", "70000"]) == 2
    assert cli.main(["serve", "--host", "127.0.0.1", "--port", str(cpu_server.port)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("pynq-mnist: error: --port must be 0..65535")
    assert err[1].startswith(f"pynq-mnist: error: cannot listen on 127.0.0.1:{cpu_server.port}: ")
    assert len(err) == 2


# ---- end to end in a real browser (Debian's chromium + chromium-driver, driven by selenium) ----

# Indices into the shipped sample: one test image of every class (the 3 last, for the
# screenshot). The model classifies each correctly as drawn by stroke_runs below.
DRAWN = (0, 1, 2, 3, 4, 7, 8, 11, 61, 18)
INK_LEVEL = 128  # pixels at least this bright are drawn
PAD_SCALE = 10  # canvas pixels per MNIST pixel (280 / 28)
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ANSWER_TIMEOUT_S = 60


def stroke_runs(image: np.ndarray) -> list[tuple[int, int, int]]:
    """Horizontal strokes (row, first column, last column) over the ink pixels of a 28x28."""
    runs = []
    for row in range(28):
        ink = np.flatnonzero(image[row] >= INK_LEVEL)
        if ink.size:
            breaks = np.flatnonzero(np.diff(ink) > 1)
            starts = np.concatenate(([ink[0]], ink[breaks + 1]))
            ends = np.concatenate((ink[breaks], [ink[-1]]))
            runs += [(row, int(a), int(b)) for a, b in zip(starts, ends, strict=True)]
    return runs


def _draw(driver: Any, pad: Any, image: np.ndarray) -> int:
    """Draw the image's ink as pointer strokes on the pad; the number of strokes."""
    from selenium.webdriver.common.action_chains import ActionChains

    half = pad.size["width"] // 2  # offsets are from the element's centre
    assert pad.size == {"width": 28 * PAD_SCALE, "height": 28 * PAD_SCALE}
    actions = ActionChains(driver, duration=0)
    runs = stroke_runs(image)
    for row, first, last in runs:
        y = int((row + 0.5) * PAD_SCALE) - half
        actions.move_to_element_with_offset(pad, int((first + 0.5) * PAD_SCALE) - half, y)
        actions.click_and_hold()
        actions.move_to_element_with_offset(pad, int((last + 0.5) * PAD_SCALE) - half, y)
        actions.release()
    actions.perform()
    return len(runs)


def _answer(driver: Any, strokes: int) -> dict[str, Any]:
    """Wait until the page shows the answer for ``strokes``; the reply it displayed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    result = driver.find_element(By.ID, "result")
    WebDriverWait(driver, ANSWER_TIMEOUT_S).until(
        lambda _: (
            result.get_attribute("data-strokes") == str(strokes)
            and result.get_attribute("data-state") in ("done", "error")
        )
    )
    message = driver.find_element(By.ID, "message").text
    assert result.get_attribute("data-state") == "done", message
    return {
        "digit": driver.find_element(By.ID, "digit").text,
        "backend": driver.find_element(By.ID, "backend").text,
        "cycles": driver.find_element(By.ID, "cycles").text,
        "latency": driver.find_element(By.ID, "latency").text,
        "reply": driver.execute_script("return window.lastResult"),
    }


@pytest.mark.sim
def test_browser_draws_digits_on_sim(chromium: Any) -> None:
    """Real MNIST digits drawn as strokes in headless Chromium, answered by the virtual board."""
    from selenium.webdriver.common.by import By

    images, labels = load_sample()
    model = load_model(None)
    lines = []
    with serve.DigitServer(backend="sim").start() as server:
        chromium.get(server.url)
        pad = chromium.find_element(By.ID, "pad")
        for index in DRAWN:
            chromium.find_element(By.ID, "clear").click()
            strokes = _draw(chromium, pad, images[index])
            shown = _answer(chromium, strokes)
            reply, label = shown["reply"], int(labels[index])
            seen = np.array(reply["image"], dtype=np.uint8).reshape(1, 784)
            logits = reference_logits(model.w1, model.w2, model.shift_l1, model.shift_l2, seen)
            _, again = classify(server, seen.tobytes(), RAW)  # the same 28x28, server-side
            lines.append(
                f"test image {index}: label {label}, page shows {shown['digit']} "
                f"({shown['backend']}, {shown['cycles']} cycles, {shown['latency']})"
            )
            assert shown["digit"] == str(reply["digit"]) == str(again["digit"]) == str(label)
            assert reply["logits"] == again["logits"] == logits[0].tolist()
            assert shown["backend"] == "sim" and shown["cycles"] == f"{reply['cycles']:,}"

        # A photo goes through the same preprocessing as 'pynq-mnist infer'; the page
        # counts it as one more stroke.
        photo = SAMPLES / "photo_3_mnist18.jpg"
        chromium.find_element(By.ID, "photo").send_keys(str(photo))
        shown = _answer(chromium, strokes + 1)
        assert shown["reply"]["image"] == load_image(photo).ravel().tolist()
        assert shown["digit"] == "3"
        lines.append(f"photo {photo.name}: page shows {shown['digit']}")

        chromium.find_element(By.ID, "clear").click()
        _answer(chromium, _draw(chromium, pad, images[DRAWN[-1]]))
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot = ARTIFACTS / "serve-sim.png"
        assert chromium.save_screenshot(str(screenshot))
        (ARTIFACTS / "serve-sim.txt").write_text("\n".join(lines) + "\n")
        print("\n".join(lines) + f"\nscreenshot: {screenshot}")
