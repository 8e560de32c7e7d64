"""Synthetic phone photos of handwritten digits on paper, generated reproducibly.

Each photo is one MNIST digit drawn onto a page of paper that is laid on a
table and photographed: the page is placed in the frame through a
perspective transform (tilt, keystone, shift, scale), the table shows where
the page does not reach, and lighting, blur, noise and JPEG are applied to
the whole frame. A *variation* changes one aspect of a plain baseline photo
(page filling the frame, upright, black pen, gentle light), so that the
accuracy of each can be reported on its own.

Everything is drawn from ``numpy.random.default_rng((seed, variation, index))``:
the same seed gives the same photos, byte for byte, on the same numpy and
Pillow. Only numpy 1.21 and Pillow 9.0 APIs are used.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = [
    "VARIATIONS",
    "Photo",
    "Scene",
    "baseline_scene",
    "file_name",
    "generate",
    "render",
    "to_jpeg",
]

FRAME_LONG = 640  # frame size in pixels (long side); the short side is 3/4 of it
FRAME_SHORT = 480
HALF_FOV_TAN = math.tan(math.radians(30.0))  # a phone's half field of view, roughly
MNIST_BOX = 20  # MNIST digits are scaled to fit 20x20 pixels

_RESAMPLING = getattr(Image, "Resampling", Image)
_TRANSFORM = getattr(Image, "Transform", Image)

RGB = tuple[int, int, int]
INK: dict[str, RGB] = {
    "pen": (28, 30, 45),
    "pencil": (110, 110, 115),
    "blue": (35, 60, 160),
    "marker": (12, 12, 12),
}


@dataclass(frozen=True)
class Scene:
    """Everything that decides one photo, in frame-relative units."""

    portrait: bool = False
    tilt_deg: float = 0.0  # page rotation in the image plane
    keystone_deg: float = 0.0  # camera pitch away from the page's normal
    keystone_side: int = 0  # 0..3: which page edge is farther from the camera
    page_w: float = 1.1  # page size, as a fraction of the frame's width / height
    page_h: float = 1.1
    page_dx: float = 0.0  # page centre offset, as a fraction of the frame's width / height
    page_dy: float = 0.0
    digit_size: float = 0.33  # digit height, as a fraction of the frame's short side
    digit_dx: float = 0.0  # digit centre offset, as a fraction of the frame's width / height
    digit_dy: float = 0.0
    ink: str = "pen"
    paper: RGB = (242, 240, 234)
    ruling: str = "plain"  # plain, lined or squared
    table: str = "dark"  # dark, wood or checks
    table_rgb: RGB = (60, 45, 35)
    light_slope: float = 0.08  # light falls by this much across the frame
    light_angle: float = 0.0
    shadow: float = 0.0  # darkening of the soft shadow (0: none)
    shadow_corner: int = 0
    blur: float = 0.0  # Gaussian blur radius, as a fraction of the long side
    noise: float = 3.0  # gray levels (standard deviation, per channel)
    quality: int = 92  # JPEG quality


@dataclass(frozen=True)
class Photo:
    """One generated photo: JPEG bytes, its label and where it came from."""

    variation: str
    index: int
    label: int
    mnist_index: int
    scene: Scene
    jpeg: bytes


def baseline_scene(rng: np.random.Generator) -> Scene:
    """A plain photo: page fills the frame, upright, black pen, gentle light."""
    paper = 236 + int(rng.integers(0, 14))
    return Scene(
        portrait=bool(rng.integers(0, 2)),
        page_dx=float(rng.uniform(-0.03, 0.03)),
        page_dy=float(rng.uniform(-0.03, 0.03)),
        digit_size=float(rng.uniform(0.25, 0.4)),
        digit_dx=float(rng.uniform(-0.04, 0.04)),
        digit_dy=float(rng.uniform(-0.04, 0.04)),
        paper=(paper, paper - int(rng.integers(0, 4)), paper - int(rng.integers(3, 10))),
        table_rgb=_dark_table(rng),
        light_slope=float(rng.uniform(0.0, 0.12)),
        light_angle=float(rng.uniform(0, 2 * math.pi)),
        noise=float(rng.uniform(1.5, 4.0)),
        quality=int(rng.integers(85, 96)),
    )


def _dark_table(rng: np.random.Generator) -> RGB:
    level = int(rng.integers(25, 85))
    return (level + int(rng.integers(0, 25)), level + int(rng.integers(0, 12)), level)


def _tilted_filling(scene: Scene, rng: np.random.Generator, low: float, high: float) -> Scene:
    """Page that just fills the frame, rotated: thin wedges of table in the corners."""
    angle = float(rng.uniform(low, high)) * (1 if rng.integers(0, 2) else -1)
    width, height = _frame_size(scene.portrait)
    rad = math.radians(abs(angle))
    cover = float(rng.uniform(0.96, 1.0))
    page_w = (width * math.cos(rad) + height * math.sin(rad)) * cover / width
    page_h = (width * math.sin(rad) + height * math.cos(rad)) * cover / height
    return replace(scene, tilt_deg=angle, page_w=page_w, page_h=page_h, page_dx=0.0, page_dy=0.0)


def _out_of_frame(scene: Scene, rng: np.random.Generator) -> Scene:
    """Page shifted so that one or two of its edges are in the frame, the others outside."""
    size = float(rng.uniform(0.9, 1.2))
    shift_x = float(rng.uniform(0.1, 0.3)) * (1 if rng.integers(0, 2) else -1)
    shift_y = float(rng.uniform(0.1, 0.3)) * (1 if rng.integers(0, 2) else -1)
    if rng.integers(0, 2):
        shift_y *= 0.1  # only one edge in the frame
    return replace(
        scene,
        page_w=size,
        page_h=size * float(rng.uniform(0.95, 1.3)),
        page_dx=shift_x,
        page_dy=shift_y,
        tilt_deg=float(rng.uniform(-3, 3)),
        digit_dx=shift_x * 0.3,
        digit_dy=shift_y * 0.3,
        digit_size=float(rng.uniform(0.22, 0.32)),
    )


def _inside(scene: Scene, rng: np.random.Generator, table: str) -> Scene:
    """Page lying fully inside the frame on a table, slightly rotated."""
    size = float(rng.uniform(0.7, 0.85))
    return replace(
        scene,
        page_w=size,
        page_h=size * float(rng.uniform(0.95, 1.15)),
        tilt_deg=float(rng.uniform(-6, 6)),
        digit_size=float(rng.uniform(0.2, 0.3)),
        table=table,
    )


def _keystone(scene: Scene, rng: np.random.Generator) -> Scene:
    """Camera pitched 5 to 15 degrees away from the page's normal; the far edge may show."""
    return replace(
        scene,
        keystone_deg=float(rng.uniform(5, 15)),
        keystone_side=int(rng.integers(0, 4)),
        page_w=float(rng.uniform(1.0, 1.2)),
        page_h=float(rng.uniform(1.0, 1.2)),
        tilt_deg=float(rng.uniform(-2, 2)),
    )


def _off_centre(scene: Scene, rng: np.random.Generator) -> Scene:
    size = float(rng.uniform(0.2, 0.3))
    reach = 0.5 - size * 0.75  # keeps the digit inside the frame, near an edge
    return replace(
        scene,
        digit_size=size,
        digit_dx=float(rng.uniform(0.6, 1.0)) * reach * (1 if rng.integers(0, 2) else -1),
        digit_dy=float(rng.uniform(0.6, 1.0)) * reach * (1 if rng.integers(0, 2) else -1),
    )


Variation = Callable[[Scene, np.random.Generator], Scene]

VARIATIONS: dict[str, Variation] = {
    "plain": lambda s, r: s,
    "tilt 0.5-3": lambda s, r: _tilted_filling(s, r, 0.5, 3.0),
    "tilt 3-10": lambda s, r: _tilted_filling(s, r, 3.0, 10.0),
    "out of frame": _out_of_frame,
    "dark table": lambda s, r: _inside(s, r, "dark"),
    "patterned table": lambda s, r: _inside(s, r, ("wood", "checks")[int(r.integers(0, 2))]),
    "perspective": _keystone,
    "light + shadow": lambda s, r: replace(
        s,
        light_slope=float(r.uniform(0.25, 0.45)),
        shadow=float(r.uniform(0.3, 0.45)),
        shadow_corner=int(r.integers(0, 4)),
    ),
    "blur": lambda s, r: replace(s, blur=float(r.uniform(0.003, 0.006))),
    "noise": lambda s, r: replace(s, noise=float(r.uniform(8, 16))),
    "jpeg 60-70": lambda s, r: replace(s, quality=int(r.integers(60, 71))),
    "pencil": lambda s, r: replace(s, ink="pencil"),
    "blue ink": lambda s, r: replace(s, ink="blue"),
    "marker": lambda s, r: replace(s, ink="marker"),
    "lined paper": lambda s, r: replace(s, ruling="lined"),
    "squared paper": lambda s, r: replace(s, ruling="squared"),
    "small (10%)": lambda s, r: replace(s, digit_size=0.1),
    "large (60%)": lambda s, r: replace(s, digit_size=0.6, digit_dx=0.0, digit_dy=0.0),
    "off centre": _off_centre,
}
"""Name -> change applied to a baseline scene (each photo draws its own baseline)."""


def generate(
    digits: np.ndarray, labels: np.ndarray, *, per_variation: int = 32, seed: int = 0
) -> Iterator[Photo]:
    """Yield ``per_variation`` photos of each variation, digits drawn from ``digits``."""
    for v, (name, vary) in enumerate(VARIATIONS.items()):
        for i in range(per_variation):
            rng = np.random.default_rng((seed, v, i))
            pick = int(rng.integers(0, len(digits)))
            scene = vary(baseline_scene(rng), rng)
            image = render(digits[pick], scene, rng)
            yield Photo(name, i, int(labels[pick]), pick, scene, to_jpeg(image, scene.quality))


def file_name(photo: Photo) -> str:
    """``<variation>_<index>_<label>.jpg``, the variation in lower case and underscores."""
    slug = re.sub(r"[^a-z0-9]+", "_", photo.variation.lower()).strip("_")
    return f"{slug}_{photo.index:03d}_{photo.label}.jpg"


def to_jpeg(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes of ``image`` at ``quality``, 4:2:0 chroma like a phone's."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, subsampling=2)
    return buffer.getvalue()


def _frame_size(portrait: bool) -> tuple[int, int]:
    return (FRAME_SHORT, FRAME_LONG) if portrait else (FRAME_LONG, FRAME_SHORT)


def render(digit: np.ndarray, scene: Scene, rng: np.random.Generator) -> Image.Image:
    """The RGB photo of the 28x28 ``digit`` written on the page of ``scene``."""
    width, height = _frame_size(scene.portrait)
    corners = _page_corners(scene, width, height)
    page_w = round(scene.page_w * width)
    page_h = round(scene.page_h * height)
    source = [(0.0, 0.0), (page_w, 0.0), (page_w, page_h), (0.0, page_h)]
    coeffs = _homography(corners, source)  # frame (x, y) -> page (u, v)

    # The digit goes where the frame point (centre + offset) lands on the page.
    centre_x = width * (0.5 + scene.digit_dx)
    centre_y = height * (0.5 + scene.digit_dy)
    digit_px = scene.digit_size * min(width, height)
    top = _apply(coeffs, centre_x, centre_y - digit_px / 2)
    bottom = _apply(coeffs, centre_x, centre_y + digit_px / 2)
    on_page = _apply(coeffs, centre_x, centre_y)
    page_digit_h = math.hypot(bottom[0] - top[0], bottom[1] - top[1])
    page = _page(digit, scene, (page_w, page_h), on_page, page_digit_h, rng)

    size = (width, height)
    photo = page.transform(size, _TRANSFORM.PERSPECTIVE, coeffs, _RESAMPLING.BILINEAR)
    mask = Image.new("L", (page_w, page_h), 255).transform(
        size, _TRANSFORM.PERSPECTIVE, coeffs, _RESAMPLING.BILINEAR
    )
    frame = Image.composite(photo, _table(scene, size, rng), mask)

    pixels = np.asarray(frame, dtype=np.float32) * _lighting(scene, width, height)[..., None]
    if scene.blur > 0:
        radius = scene.blur * max(width, height)
        blurred = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")
        pixels = np.asarray(blurred.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32)
    pixels += rng.normal(0.0, scene.noise, pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), mode="RGB")


def _page_corners(scene: Scene, width: int, height: int) -> list[tuple[float, float]]:
    """The page's four corners in the frame: TL, TR, BR, BL (page coordinates)."""
    half_w, half_h = scene.page_w * width / 2, scene.page_h * height / 2
    # Keystone: the far edge looks shorter by (1 - t) / (1 + t), t = tan(pitch) tan(fov/2).
    t = math.tan(math.radians(scene.keystone_deg)) * HALF_FOV_TAN
    near, far = 1.0 + t, 1.0 - t
    corners = [(-half_w, -half_h), (half_w, -half_h), (half_w, half_h), (-half_w, half_h)]
    if t > 0:
        side = scene.keystone_side
        # Shrink the corners on the far edge towards the middle of that edge's axis.
        far_corners = {0: (0, 1), 1: (1, 2), 2: (2, 3), 3: (3, 0)}[side]
        scaled = []
        for k, (x, y) in enumerate(corners):
            factor = far if k in far_corners else near
            if side in (0, 2):
                scaled.append((x * factor, y))
            else:
                scaled.append((x, y * factor))
        corners = scaled
    rad = math.radians(scene.tilt_deg)
    cos, sin = math.cos(rad), math.sin(rad)
    centre_x = width * (0.5 + scene.page_dx)
    centre_y = height * (0.5 + scene.page_dy)
    return [(centre_x + x * cos - y * sin, centre_y + x * sin + y * cos) for x, y in corners]


def _homography(
    frame: list[tuple[float, float]], page: list[tuple[float, float]]
) -> tuple[float, ...]:
    """PIL PERSPECTIVE coefficients mapping each frame point to its page point."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(frame, page, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    return tuple(float(c) for c in np.linalg.solve(np.array(rows), np.array(rhs)))


def _apply(coeffs: tuple[float, ...], x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f, g, h = coeffs
    w = g * x + h * y + 1.0
    return (a * x + b * y + c) / w, (d * x + e * y + f) / w


def _page(
    digit: np.ndarray,
    scene: Scene,
    size: tuple[int, int],
    centre: tuple[float, float],
    digit_h: float,
    rng: np.random.Generator,
) -> Image.Image:
    """The flat page: paper, ruling and the digit in ink, as an RGB image."""
    width, height = size
    paper = Image.new("RGB", size, scene.paper)
    draw = ImageDraw.Draw(paper)
    short = min(width, height)
    line = max(1, round(short / 400))
    if scene.ruling == "lined":
        step = short * 0.045
        for k in range(1, int(height / step) + 1):
            y = round(k * step)
            draw.line([(0, y), (width, y)], fill=(150, 185, 225), width=line)
        margin = round(width * 0.12)
        draw.line([(margin, 0), (margin, height)], fill=(225, 130, 140), width=line)
    elif scene.ruling == "squared":
        step = short * 0.03
        for k in range(1, int(max(width, height) / step) + 1):
            xy = round(k * step)
            draw.line([(xy, 0), (xy, height)], fill=(170, 192, 215), width=line)
            draw.line([(0, xy), (width, xy)], fill=(170, 192, 215), width=line)
    pixels = np.asarray(paper, dtype=np.float32)

    scale = digit_h / MNIST_BOX
    side = max(4, round(digit.shape[0] * scale))
    coverage_img = Image.fromarray(digit).resize((side, side), _RESAMPLING.BICUBIC)
    if scene.ink == "marker":
        coverage_img = coverage_img.filter(ImageFilter.MaxFilter(_odd(side / 40)))
    coverage = np.asarray(coverage_img, dtype=np.float32) / 255.0
    coverage = np.clip(coverage * 1.3, 0.0, 1.0)  # pen strokes are solid, not gray
    if scene.ink == "pencil":
        coverage *= rng.uniform(0.75, 1.0, coverage.shape).astype(np.float32)
    ink = np.array(INK[scene.ink], dtype=np.float32) / 255.0

    left = round(centre[0] - side / 2)
    top = round(centre[1] - side / 2)
    # Clip the digit's box to the page.
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(width, left + side), min(height, top + side)
    if x1 > x0 and y1 > y0:
        cov = coverage[y0 - top : y1 - top, x0 - left : x1 - left, None]
        region = pixels[y0:y1, x0:x1]
        pixels[y0:y1, x0:x1] = region * (1.0 - cov * (1.0 - ink))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")


def _odd(value: float) -> int:
    return 2 * max(1, round(value / 2)) + 1


def _table(scene: Scene, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """Dark wood-coloured surface, wood grain, or a checked cloth."""
    width, height = size
    rows, cols = np.indices((height, width), dtype=np.float32)
    base = np.array(scene.table_rgb, dtype=np.float32)
    if scene.table == "wood":
        phase = float(rng.uniform(0, 2 * math.pi))
        freq = float(rng.uniform(0.03, 0.08))
        grain = np.sin(cols * freq + 3.0 * np.sin(rows * 0.01) + phase)
        light = np.array([150, 105, 65], dtype=np.float32)
        pixels = base + (light - base) * (0.5 + 0.5 * grain[..., None])
    elif scene.table == "checks":
        step = float(rng.uniform(12, 30))
        cell = ((rows // step + cols // step) % 2)[..., None]
        pixels = base * (1 - cell) + np.array([40, 60, 120], dtype=np.float32) * cell
    else:
        pixels = np.broadcast_to(base, (height, width, 3)).copy()
    pixels += rng.normal(0.0, 4.0, pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")


def _lighting(scene: Scene, width: int, height: int) -> np.ndarray:
    """Multiplicative light: a linear fall-off and an optional soft shadow from a corner."""
    rows, cols = np.indices((height, width), dtype=np.float32)
    x, y = cols / width - 0.5, rows / height - 0.5
    ramp = x * math.cos(scene.light_angle) + y * math.sin(scene.light_angle)
    light = 1.0 - scene.light_slope * (ramp + 0.5)
    if scene.shadow > 0:
        corner_x = 0.0 if scene.shadow_corner in (0, 3) else 1.0
        corner_y = 0.0 if scene.shadow_corner in (0, 1) else 1.0
        distance = np.hypot(cols / width - corner_x, rows / height - corner_y)
        edge = np.clip((0.6 - distance) / 0.15, 0.0, 1.0)  # soft edge 15 % of the frame
        light = light * (1.0 - scene.shadow * edge)
    return light.astype(np.float32)
