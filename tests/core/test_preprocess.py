"""Real-image preprocessing: file formats, modes, MNIST layout, photos, and failures."""

from __future__ import annotations

import contextlib
import io
import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

import pynq_mnist
from pynq_mnist.errors import ImageError
from pynq_mnist.preprocess import (
    ALLOWED_FORMATS,
    MAX_DECODED_BYTES,
    MAX_PIXELS,
    analyse,
    doubt_note,
    load_image,
    load_image_bytes,
    preprocess,
    read_digit_bytes,
)

SAMPLES = Path(pynq_mnist.__file__).resolve().parent / "samples"
DIGIT_SAMPLES = sorted(SAMPLES.glob("digit_*_*.png"))
PHOTO_SAMPLES = sorted(SAMPLES.glob("photo_*.jpg"))


def _label(path: Path) -> int:
    return int(path.name.split("_")[1])


def _mnist(label: int) -> np.ndarray:
    """The bundled MNIST test digit of class ``label``, read without pynq_mnist."""
    (path,) = SAMPLES.glob(f"digit_{label}_*.png")
    return np.asarray(Image.open(path), dtype=np.uint8)


def _save(image: Image.Image, path: Path, **params: object) -> Path:
    image.save(path, **params)
    return path


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of slightly blurred images, best over shifts of up to 1 pixel.

    Centring rounds to whole pixels, so the same digit redrawn may land one
    pixel off. Different digits among the samples score at most 0.64, the
    same digit redrawn through the pipeline at least 0.9.
    """

    def blurred(image: np.ndarray) -> np.ndarray:
        smooth = Image.fromarray(image).filter(ImageFilter.GaussianBlur(1))
        return np.asarray(smooth, dtype=np.float64)

    fixed = blurred(b).ravel()
    moving = blurred(a)
    return max(
        float(np.corrcoef(np.roll(moving, (dy, dx), axis=(0, 1)).ravel(), fixed)[0, 1])
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )


def _centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(image.shape)
    total = float(image.sum(dtype=np.int64))
    return float((rows * image).sum()) / total, float((cols * image).sum()) / total


def _bbox_size(image: np.ndarray) -> tuple[int, int]:
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def _assert_mnist_layout(image: np.ndarray) -> None:
    """uint8 28x28, ink fits 20x20, centre of mass within 1 px of (14, 14), peak 255."""
    assert image.dtype == np.uint8
    assert image.shape == (28, 28)
    height, width = _bbox_size(image)
    assert max(height, width) <= 20
    assert max(height, width) >= 18, "the longer side should be scaled to the 20 px box"
    centre_row, centre_col = _centre_of_mass(image)
    assert abs(centre_row - 14) <= 1 and abs(centre_col - 14) <= 1, (centre_row, centre_col)
    assert image.max() == 255


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height; the pixel data is absent."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def test_samples_are_present() -> None:
    assert [_label(p) for p in DIGIT_SAMPLES] == list(range(10))
    assert len(PHOTO_SAMPLES) == 2
    assert sum(p.stat().st_size for p in SAMPLES.iterdir()) < 100_000


# -- MNIST passthrough -------------------------------------------------------------------


@pytest.mark.parametrize("path", DIGIT_SAMPLES, ids=lambda p: p.name)
def test_mnist_sample_passes_through_byte_exact(path: Path) -> None:
    raw = np.asarray(Image.open(path))
    assert raw.dtype == np.uint8 and raw.shape == (28, 28)
    assert np.array_equal(load_image(path), raw)
    out = preprocess(raw)
    assert np.array_equal(out, raw)
    assert out is not raw


def test_real_mnist_passes_through(mnist_dir: Path) -> None:
    from pynq_mnist.data import load_mnist

    images, _ = load_mnist("test", mnist_dir)
    for image in images[:2000]:
        assert np.array_equal(preprocess(Image.fromarray(image, mode="L")), image)


def test_28x28_with_light_background_is_not_passed_through() -> None:
    inverted = 255 - _mnist(4)
    out = preprocess(inverted)
    assert not np.array_equal(out, inverted)
    assert out[0].max() == 0


# -- polarity, modes, formats --------------------------------------------------------------


@pytest.mark.parametrize("label", range(10))
def test_light_background_is_inverted(tmp_path: Path, label: int) -> None:
    original = _mnist(label)
    path = _save(Image.fromarray(255 - original, mode="L"), tmp_path / "light.png")
    out = load_image(path)
    _assert_mnist_layout(out)
    assert _similarity(out, original) > 0.9


def test_rgba_transparent_background_composited_on_white(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    original = _mnist(3)
    # Colour under full transparency is garbage: only alpha may decide.
    rgba = rng.integers(0, 256, (28, 28, 4), dtype=np.uint8)
    ink = original > 0
    rgba[ink, :3] = (10, 20, 90)
    rgba[..., 3] = original
    out = load_image(_save(Image.fromarray(rgba, mode="RGBA"), tmp_path / "rgba.png"))
    _assert_mnist_layout(out)
    assert _similarity(out, original) > 0.9
    assert np.array_equal(preprocess(rgba), out)


@pytest.mark.parametrize("side", [140, 1100])  # 1100: reduced in PIL before analysis
def test_colour_under_full_transparency_never_matters(rng: np.random.Generator, side: int) -> None:
    ink = np.asarray(Image.fromarray(_mnist(8)).resize((side, side), Image.BICUBIC))
    rgba = np.zeros((side, side, 4), dtype=np.uint8)
    rgba[..., 3] = np.where(ink > 60, 255, 0)
    rgba[::2, ::2, 3] = 0  # ragged alpha inside the strokes, too
    garbage = rgba.copy()
    clear = garbage[..., 3] == 0
    garbage[clear, :3] = rng.integers(0, 256, (int(clear.sum()), 3), dtype=np.uint8)
    expected = preprocess(Image.fromarray(rgba, mode="RGBA"))
    assert np.array_equal(preprocess(Image.fromarray(garbage, mode="RGBA")), expected)
    assert _similarity(expected, _mnist(8)) > 0.85


def test_big_images_are_box_reduced_first() -> None:
    page = Image.fromarray(255 - _mnist(0)).resize((1600, 1200), Image.BICUBIC)
    reduced = page.reduce(1600 // 512)
    assert np.array_equal(preprocess(page), preprocess(reduced))


def test_la_mode(tmp_path: Path) -> None:
    original = _mnist(2)
    la = np.stack([np.zeros_like(original), original], axis=-1)
    out = load_image(_save(Image.fromarray(la, mode="LA"), tmp_path / "la.png"))
    assert _similarity(out, original) > 0.9


def test_palette_with_transparency(tmp_path: Path) -> None:
    original = _mnist(7)
    indices = (original > 100).astype(np.uint8)
    image = Image.fromarray(indices, mode="P")
    # Index 0 is black but transparent: ignoring transparency would leave black ink on black.
    image.putpalette([0, 0, 0, 30, 30, 120] + [0] * 762)
    path = _save(image, tmp_path / "p.png", transparency=0)
    assert Image.open(path).mode == "P"
    out = load_image(path)
    _assert_mnist_layout(out)
    assert _similarity(out, original) > 0.85


def test_palette_gif_without_transparency(tmp_path: Path) -> None:
    original = _mnist(0)
    rgb = np.stack([255 - original] * 3, axis=-1)
    path = _save(Image.fromarray(rgb, mode="RGB").convert("P"), tmp_path / "digit.gif")
    out = load_image(path)
    _assert_mnist_layout(out)
    assert _similarity(out, original) > 0.9


def test_16_bit_png_matches_8_bit(tmp_path: Path) -> None:
    light = 255 - _mnist(5)
    path = _save(Image.fromarray(light.astype(np.uint16) * 257), tmp_path / "i16.png")
    assert Image.open(path).mode in ("I;16", "I")  # Pillow < 10 opens 16-bit gray PNG as "I"
    assert np.array_equal(load_image(path), preprocess(light))


def test_16_bit_levels_are_scaled_to_8_bit() -> None:
    # 1000 of 65535 is 4 of 255: too faint to be a digit, in either depth.
    faint = np.full((40, 40), 1000, dtype=np.uint16)
    faint[10:30, 18:22] = 2000
    with pytest.raises(ImageError, match="no digit"):
        preprocess(Image.fromarray(faint))
    with pytest.raises(ImageError, match="no digit"):
        preprocess(faint)


def test_32_bit_and_float_modes_match_8_bit() -> None:
    light = 255 - _mnist(6)
    expected = preprocess(light)
    assert np.array_equal(preprocess(Image.fromarray(light.astype(np.int32) * 257)), expected)
    as_float = Image.fromarray(light.astype(np.float32) / 255)
    assert as_float.mode == "F"
    assert np.array_equal(preprocess(as_float), expected)


@pytest.mark.parametrize("mode", ["CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La", "PA"])
def test_other_pil_modes(mode: str) -> None:
    light = 255 - _mnist(2)
    rgb = Image.fromarray(np.stack([light] * 3, axis=-1), mode="RGB")
    # Pillow 9.0 converts RGB to neither LAB nor the premultiplied modes directly.
    if mode == "LAB":
        neutral = Image.new("L", rgb.size, 128)  # a* = b* = 0: gray
        image = Image.merge("LAB", (Image.fromarray(light), neutral, neutral))
    elif mode in ("La", "RGBa"):
        image = rgb.convert(mode.upper()).convert(mode)
    else:
        image = rgb.convert(mode)
    assert image.mode == mode
    assert _similarity(preprocess(image), preprocess(light)) > 0.95


def test_bilevel_mode_1(tmp_path: Path) -> None:
    original = _mnist(1)
    image = Image.fromarray(original <= 100).convert("1")
    out = load_image(_save(image, tmp_path / "bw.bmp"))
    _assert_mnist_layout(out)
    assert _similarity(out, original) > 0.85


@pytest.mark.parametrize("suffix", [".jpg", ".bmp", ".tiff", ".webp"])
def test_other_file_formats(tmp_path: Path, suffix: str) -> None:
    original = _mnist(9)
    rgb = Image.fromarray(np.stack([255 - original] * 3, axis=-1), mode="RGB")
    big = rgb.resize((140, 140), Image.BICUBIC)
    out = load_image(_save(big, tmp_path / f"digit{suffix}"))
    _assert_mnist_layout(out)
    assert _similarity(out, original) > 0.85


def test_arrays_of_other_types() -> None:
    light = 255 - _mnist(8)
    expected = preprocess(light)
    assert np.array_equal(preprocess(light.astype(np.float64) / 255), expected)
    assert np.array_equal(preprocess(light.astype(np.uint16) * 257), expected)
    assert np.array_equal(preprocess(light[..., None]), expected)
    rgb = np.stack([light] * 3, axis=-1)
    assert np.array_equal(preprocess(rgb), expected)
    assert _similarity(preprocess(light > 127), expected) > 0.85


def test_bad_arrays_raise_value_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        preprocess(np.zeros((2, 28, 28), dtype=np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        preprocess(np.full((28, 28), np.nan))
    with pytest.raises(TypeError):
        preprocess([[0] * 28] * 28)  # type: ignore[arg-type]


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    upright = Image.fromarray(255 - _mnist(7), mode="L").resize((56, 84))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated 90 degrees counter-clockwise; display rotates back
    stored = upright.transpose(Image.ROTATE_90)
    rotated = load_image(_save(stored, tmp_path / "rot.png", exif=exif))
    assert np.array_equal(rotated, load_image(_save(upright, tmp_path / "up.png")))
    without_tag = load_image(_save(stored, tmp_path / "plain.png"))
    assert not np.array_equal(rotated, without_tag)


# -- geometry --------------------------------------------------------------------------------


def test_off_centre_digit_is_centred_and_fits_box(tmp_path: Path) -> None:
    original = _mnist(2)
    page = np.full((300, 220), 255, dtype=np.uint8)
    big = np.kron(255 - original, np.ones((3, 3), dtype=np.uint8))
    page[5 : 5 + 84, 130 : 130 + 84] = big  # top right corner
    out = load_image(_save(Image.fromarray(page), tmp_path / "corner.png"))
    _assert_mnist_layout(out)
    assert _similarity(out, original) > 0.9


@pytest.mark.parametrize("label", range(10))
def test_tightly_cropped_digit(label: int) -> None:
    # Cropped to the ink: ink touches every edge and is no minority of the pixels.
    original = _mnist(label)
    rows = np.flatnonzero(original.any(axis=1))
    cols = np.flatnonzero(original.any(axis=0))
    crop = 255 - original[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    assert _similarity(preprocess(crop), original) > 0.98
    assert _similarity(preprocess(255 - crop), original) > 0.98
    size = (crop.shape[1] * 8, crop.shape[0] * 8)
    enlarged = Image.fromarray(crop).resize(size, Image.BICUBIC)
    assert _similarity(preprocess(enlarged), original) > 0.9


def test_tight_crops_of_real_mnist(mnist_dir: Path) -> None:
    """Light on dark, cropped to the ink: the ink crosses the border and is ~half the pixels."""
    from pynq_mnist.data import load_mnist

    images, _ = load_mnist("test", mnist_dir)
    similar = 0
    for image in images[:300]:
        rows = np.flatnonzero(image.any(axis=1))
        cols = np.flatnonzero(image.any(axis=0))
        crop = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        # A 1 that fills its box leaves no background to tell ink from: ImageError.
        with contextlib.suppress(ImageError):
            similar += _similarity(preprocess(crop), image) > 0.9
    assert similar >= 270


def test_wide_digit_keeps_aspect_ratio() -> None:
    page = np.full((100, 200), 255, dtype=np.uint8)
    page[45:55, 20:180] = 0  # a 10 x 160 bar
    out = preprocess(page)
    height, width = _bbox_size(out)
    assert width == 20
    assert height <= 3
    centre_row, centre_col = _centre_of_mass(out)
    assert abs(centre_row - 14) <= 1 and abs(centre_col - 14) <= 1


@pytest.mark.parametrize("mirror", [False, True])
def test_shift_is_clipped_so_nothing_is_cut(mirror: bool) -> None:
    # Mass sits at one side of a 20x20 box: centring it by mass would push it off the edge.
    page = np.zeros((40, 40), dtype=np.uint8)
    page[18:22, 10] = 255
    page[10:30, 25:30] = 255
    if mirror:
        page = page[:, ::-1].copy()
    out = preprocess(page)
    assert _bbox_size(out) == (20, 20)
    cols = np.flatnonzero(out.any(axis=0))
    centre_col = _centre_of_mass(out)[1]
    if mirror:
        assert cols[-1] == 27 and centre_col < 13
    else:
        assert cols[0] == 0 and centre_col > 15
    assert int(out.sum(dtype=np.int64)) == int(page.sum(dtype=np.int64))


def test_thin_strokes_are_thickened_to_mnist_width() -> None:
    page = np.full((400, 400), 255, dtype=np.uint8)
    page[50:350, 199:202] = 0  # a 1 drawn with a fine pen: 3 px wide, 300 px tall
    out = preprocess(page)
    assert _bbox_size(out)[0] == 20
    strong_columns = np.flatnonzero(out.max(axis=0) >= 128)
    assert 2 <= len(strong_columns) <= 4, out.max(axis=0)


def test_specks_far_from_the_digit_are_dropped(rng: np.random.Generator) -> None:
    page = np.full((200, 200), 255, dtype=np.uint8)
    page[60:144, 60:144] = 255 - np.kron(_mnist(4), np.ones((3, 3), dtype=np.uint8))
    clean = preprocess(page)
    for _ in range(6):
        row, col = rng.integers(0, 40, 2)
        page[row : row + 2, col : col + 2] = 0  # dirt in the top-left corner
    assert _similarity(preprocess(page), clean) > 0.99


# -- photos ----------------------------------------------------------------------------------


def _photo(rng: np.random.Generator, ink: np.ndarray | None) -> Image.Image:
    """A 300x400 RGB 'phone photo' of paper with a lighting gradient, noise and optional ink."""
    height, width = 400, 300
    rows, cols = np.indices((height, width), dtype=np.float64)
    light = 140 + 90 * (0.7 * cols / width + 0.3 * rows / height)
    coverage = np.zeros((height, width))
    if ink is not None:
        big = np.asarray(Image.fromarray(ink).resize((180, 180), Image.BICUBIC))
        coverage[150:330, 40:220] = np.clip(big / 255.0, 0, 1)
    gray = light * (1 - coverage) + 50 * coverage
    rgb = gray[..., None] * np.array([1.0, 0.96, 0.86]) + rng.normal(0, 6, (height, width, 3))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode="RGB")


def test_noisy_photo_gives_clean_background(rng: np.random.Generator) -> None:
    original = _mnist(3)
    out = preprocess(_photo(rng, original))
    _assert_mnist_layout(out)
    assert _similarity(out, original) > 0.85
    # Background exactly zero: nothing lights up away from the (dilated) true digit.
    near = np.asarray(Image.fromarray(original).filter(ImageFilter.MaxFilter(5))) > 0
    assert out[~near].max() == 0
    assert out[:4].max() == 0 and out[-4:].max() == 0


@pytest.mark.parametrize("angle", [0, 4])
def test_page_on_a_darker_table(rng: np.random.Generator, angle: int) -> None:
    # The border is table, so the page first looks like one huge bright stroke.
    original = _mnist(6)
    cols = np.indices((400, 300), dtype=np.float64)[1]
    page = Image.new("L", (300, 400), 0)
    page.paste(255, (30, 50, 270, 360))
    sheet = np.asarray(page.rotate(angle, resample=Image.BILINEAR)) / 255.0
    big = np.asarray(Image.fromarray(original).resize((160, 160), Image.BICUBIC))
    ink = np.zeros((400, 300))
    ink[120:280, 70:230] = big / 255.0
    paper = (200 + 30 * cols / 300) * (1 - ink) + 60 * ink
    gray = 55 * (1 - sheet) + sheet * paper + rng.normal(0, 4, (400, 300))
    out = preprocess(np.clip(gray, 0, 255).astype(np.uint8))
    _assert_mnist_layout(out)
    assert _similarity(out, original) > 0.9


def test_noisy_photo_without_digit_is_blank(rng: np.random.Generator) -> None:
    with pytest.raises(ImageError, match="no digit"):
        preprocess(_photo(rng, None), source="paper.jpg")


@pytest.mark.parametrize("path", PHOTO_SAMPLES, ids=lambda p: p.name)
def test_photo_samples_have_zero_background(path: Path) -> None:
    out = load_image(path)
    _assert_mnist_layout(out)
    assert (out == 0).mean() > 0.6
    # No isolated specks of paper texture: every ink pixel has an ink neighbour.
    ink = out > 0
    padded = np.pad(ink, 1)
    neighbours = sum(
        padded[1 + dr : 29 + dr, 1 + dc : 29 + dc].astype(int)
        for dr in (-1, 0, 1)
        for dc in (-1, 0, 1)
        if (dr, dc) != (0, 0)
    )
    assert not (ink & (neighbours == 0)).any()


def test_photo_sample_of_mnist_digit_matches_it() -> None:
    out = load_image(SAMPLES / "photo_3_mnist18.jpg")
    assert _similarity(out, _mnist(3)) > 0.8


@pytest.mark.parametrize("path", DIGIT_SAMPLES + PHOTO_SAMPLES, ids=lambda p: p.name)
def test_bundled_model_reads_the_samples(path: Path) -> None:
    from pynq_mnist import Classifier

    with Classifier(backend="cpu") as classifier:
        result = classifier.classify(load_image(path)[None])
    assert int(result.digits[0]) == _label(path)


@pytest.mark.slow
def test_preprocessing_keeps_the_bundled_model_accurate(
    mnist_dir: Path, rng: np.random.Generator
) -> None:
    """MNIST test digits re-drawn light-on-dark, on transparency and as noisy photos."""
    from pynq_mnist import Classifier
    from pynq_mnist.data import load_mnist

    classifier = Classifier(backend="cpu")  # fails fast if the bundled model is missing
    images, labels = load_mnist("test", mnist_dir)
    pick = rng.choice(len(images), 200, replace=False)
    digits, truth = images[pick], labels[pick]
    transparent = np.zeros((28, 28, 4), dtype=np.uint8)
    variants = {
        "raw": digits,
        "inverted": np.stack([preprocess(255 - d) for d in digits]),
        "rgba": np.stack([preprocess(np.dstack([transparent[..., :3], d])) for d in digits]),
        "photo": np.stack([preprocess(_photo(rng, d)) for d in digits]),
    }
    with classifier:
        accuracy = {
            name: float((classifier.classify(batch).digits == truth).mean())
            for name, batch in variants.items()
        }
    logging.getLogger(__name__).info("accuracy by input variant: %s", accuracy)
    assert accuracy["raw"] > 0.9
    assert accuracy["inverted"] >= accuracy["raw"] - 0.02, accuracy
    assert accuracy["rgba"] >= accuracy["raw"] - 0.02, accuracy
    assert accuracy["photo"] >= accuracy["raw"] - 0.06, accuracy


def test_large_jpeg_is_decoded_reduced(tmp_path: Path, rng: np.random.Generator) -> None:
    photo = _photo(rng, _mnist(0)).resize((1800, 2400), Image.BILINEAR)
    out = load_image(_save(photo, tmp_path / "big.jpg", quality=85))
    _assert_mnist_layout(out)
    assert _similarity(out, _mnist(0)) > 0.8


# -- failures --------------------------------------------------------------------------------


def test_pixel_limit_checked_before_decoding(tmp_path: Path) -> None:
    side = int(MAX_PIXELS**0.5) + 100
    path = _png_header_only(tmp_path / "bomb.png", side, side)
    with pytest.raises(ImageError, match=rf"bomb\.png.*{side}x{side}.*{MAX_PIXELS}"):
        load_image(path)


def test_pixel_limit_beyond_pil_own_limit(tmp_path: Path) -> None:
    path = _png_header_only(tmp_path / "huge.png", 60_000, 60_000)
    with pytest.raises(ImageError, match=r"huge\.png.*pixels"):
        load_image(path)


def test_pixel_limit_is_adjustable(tmp_path: Path) -> None:
    path = _save(Image.fromarray(255 - _mnist(1)), tmp_path / "small.png")
    with pytest.raises(ImageError, match="784 pixels, over the limit of 700"):
        load_image(path, max_pixels=700)
    assert load_image(path, max_pixels=784).shape == (28, 28)


@pytest.mark.parametrize("level", [0, 128, 255])
def test_uniform_image_is_blank(tmp_path: Path, level: int) -> None:
    path = _save(Image.new("L", (64, 48), level), tmp_path / f"blank{level}.png")
    with pytest.raises(ImageError, match=rf"blank{level}\.png: no digit found"):
        load_image(path)


def test_nearly_uniform_image_is_blank() -> None:
    page = np.full((50, 50), 200, dtype=np.uint8)
    page[20:25, 20:25] = 196
    with pytest.raises(ImageError, match="no digit"):
        preprocess(page)


def test_fully_transparent_image_is_blank(tmp_path: Path, rng: np.random.Generator) -> None:
    rgba = rng.integers(0, 256, (40, 40, 4), dtype=np.uint8)
    rgba[..., 3] = 0
    with pytest.raises(ImageError, match="no digit"):
        load_image(_save(Image.fromarray(rgba, mode="RGBA"), tmp_path / "clear.png"))


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_file(tmp_path: Path, rng: np.random.Generator, suffix: str) -> None:
    buffer = io.BytesIO()
    _photo(rng, _mnist(5)).save(buffer, format="PNG" if suffix == ".png" else "JPEG")
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match=rf"cut\{suffix}: cannot read image"):
        load_image(path)


def test_missing_file_directory_and_non_image(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"nothere\.png: no such file"):
        load_image(tmp_path / "nothere.png")
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    with pytest.raises(ImageError, match=r"notes\.txt: not an image"):
        load_image(text)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.png"):
        load_image(empty)


# -- photos of a page with the table in the corners ------------------------------------------


def _sheet_photo(digit: np.ndarray, angle: float, *, table: int = 50) -> Image.Image:
    """A 640x480 photo: a white sheet that just fills the frame, rotated by ``angle``
    degrees, so that wedges of dark table show in the corners; the digit drawn 160 px
    tall in the middle, JPEG-like noise-free."""
    width, height = 640, 480
    cos, sin = np.cos(np.radians(abs(angle))), np.sin(np.radians(abs(angle)))
    # The rotated sheet's corners touch the frame's edges: table in four wedges.
    page_w = round((width * cos - height * sin) / (cos**2 - sin**2))
    page_h = round((height * cos - width * sin) / (cos**2 - sin**2))
    page = np.full((page_h, page_w), 235.0)
    ink = np.asarray(Image.fromarray(digit).resize((224, 224), Image.BICUBIC)) / 255.0
    top, left = (page_h - 224) // 2, (page_w - 224) // 2
    page[top : top + 224, left : left + 224] = 235.0 * (1 - ink) + 30.0 * ink
    sheet = Image.fromarray(page.astype(np.uint8)).convert("RGBA")
    rotated = sheet.rotate(angle, resample=Image.BICUBIC, expand=True)
    frame = Image.new("RGBA", (width, height), (table, table - 5, table - 10, 255))
    offset = ((width - rotated.width) // 2, (height - rotated.height) // 2)
    frame.alpha_composite(rotated, offset)
    return frame.convert("RGB")


@pytest.mark.parametrize("angle", [0.5, 1.0, 2.0, 3.0, -2.0])
def test_sheet_filling_the_frame_tilted_with_table_in_corners(tmp_path: Path, angle: float) -> None:
    from pynq_mnist import Classifier

    photo = _sheet_photo(_mnist(5), angle)
    corners = np.asarray(photo.convert("L"))[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert corners.max() < 60, "the table must show in every corner"
    out = load_image(_save(photo, tmp_path / "five.jpg", quality=90))
    _assert_mnist_layout(out)
    assert _similarity(out, _mnist(5)) > 0.85
    with Classifier(backend="cpu") as classifier:
        assert int(classifier.classify(out[None]).digits[0]) == 5


def test_sheet_on_a_patterned_table_tilted_8_degrees(tmp_path: Path) -> None:
    photo = _sheet_photo(_mnist(2), 8.0, table=90)
    stripes = np.asarray(photo).copy()
    dark = np.asarray(photo.convert("L")) < 120
    rows = np.indices(dark.shape)[0]
    stripes[dark & (rows // 6 % 2 == 0)] = (30, 40, 90)  # a striped cloth
    out = load_image(_save(Image.fromarray(stripes), tmp_path / "two.png"))
    assert _similarity(out, _mnist(2)) > 0.85


# -- doubt -------------------------------------------------------------------------------------


def test_two_digits_side_by_side_are_doubtful() -> None:
    one, zero = 255 - _mnist(1), 255 - _mnist(0)
    page = np.full((120, 200), 255, dtype=np.uint8)
    page[30:86, 30:86] = np.kron(one, np.ones((2, 2), dtype=np.uint8))
    page[30:86, 100:156] = np.kron(zero, np.ones((2, 2), dtype=np.uint8))
    assert analyse(page).doubt == "two digit-sized ink marks"
    alone = np.full((120, 200), 255, dtype=np.uint8)
    alone[30:86, 100:156] = page[30:86, 100:156]
    assert analyse(alone).doubt is None


def test_doubt_note() -> None:
    assert doubt_note(None, 0.9) is None
    assert doubt_note(None, 0.3) == "low confidence (under 0.5)"
    assert doubt_note("two digit-sized ink marks", 0.99) == "two digit-sized ink marks"


# -- bounded decoding --------------------------------------------------------------------------


def _png_rgb_header_only(path: Path, width: int, height: int) -> Path:
    """An 8-bit RGB PNG whose header claims width x height; no pixel data."""
    crc = zlib.crc32
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", crc(b"IHDR" + ihdr))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", crc(b"IEND"))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + end)
    return path


def test_decoded_size_checked_before_decoding(tmp_path: Path) -> None:
    # 5000 x 5000 RGB is 25 MP (under MAX_PIXELS), held as 4 bytes per pixel: 95.4 MiB.
    path = _png_rgb_header_only(tmp_path / "wide.png", 5000, 5000)
    message = (
        r"wide\.png: image too large to read: 5000x5000 pixels would take 95 MiB to decode, "
        r"the limit is 48 MiB"
    )
    with pytest.raises(ImageError, match=message):
        load_image(path)
    assert MAX_DECODED_BYTES == 48 * 2**20
    assert MAX_DECODED_BYTES >= 4000 * 3000 * 4  # a 12-megapixel RGB PNG is read


@pytest.mark.parametrize(
    ("mode", "cost"),
    [("RGB", 4), ("L", 1), ("P", 2), ("P+transparency", 5), ("LA", 8), ("I;16", 6)],
)
def test_decoding_cost_per_pixel(tmp_path: Path, mode: str, cost: int) -> None:
    """Held bytes plus the full-size conversion made before reducing."""
    light = np.asarray(Image.fromarray(255 - _mnist(3)).resize((100, 100)))
    if mode == "I;16":
        image = Image.fromarray(light.astype(np.uint16) * 257)
    elif mode == "LA":
        image = Image.fromarray(np.stack([light, np.full_like(light, 255)], axis=-1), mode="LA")
    elif mode.startswith("P"):
        image = Image.fromarray(light).convert("P")
    else:
        image = Image.fromarray(light).convert(mode)
    params = {"transparency": 255} if mode == "P+transparency" else {}
    path = _save(image, tmp_path / "cost.png", **params)
    if Image.open(path).mode == "I":  # Pillow < 10 opens 16-bit gray PNG as 32-bit "I"
        cost = 4
    assert load_image(path, max_bytes=cost * 10_000).shape == (28, 28)
    with pytest.raises(ImageError, match="too large"):
        load_image(path, max_bytes=cost * 10_000 - 1)


def test_jpeg_budget_counts_the_draft_size(tmp_path: Path, rng: np.random.Generator) -> None:
    big = _photo(rng, _mnist(4)).resize((4000, 3000), Image.BILINEAR)
    jpeg = _save(big, tmp_path / "phone.jpg", quality=80)
    png = _save(big.resize((1000, 750)), tmp_path / "same.png")
    # Drafted to 1/4 scale: 1000 x 750 x 4 bytes = 3,000,000 bytes, where the full size
    # would take 48,000,000.
    assert load_image(jpeg, max_bytes=3_000_000).shape == (28, 28)
    with pytest.raises(ImageError, match="too large"):
        load_image(jpeg, max_bytes=2_999_999)
    with pytest.raises(ImageError, match="too large"):
        load_image(png, max_bytes=2_999_999)


@pytest.mark.parametrize("suffix", [".ppm", ".ico", ".pcx", ".tga"])
def test_formats_outside_the_allow_list_are_refused(tmp_path: Path, suffix: str) -> None:
    assert "PNG" in ALLOWED_FORMATS and "PPM" not in ALLOWED_FORMATS
    image = Image.fromarray(255 - _mnist(3)).convert("RGB").resize((64, 64))
    path = _save(image, tmp_path / f"digit{suffix}")
    with pytest.raises(ImageError, match=rf"digit\{suffix}: not an image in a format we read"):
        load_image(path)


def test_16_bit_tiff_is_refused(tmp_path: Path) -> None:
    deep = Image.fromarray((255 - _mnist(3)).astype(np.uint16) * 257)
    path = _save(deep, tmp_path / "deep.tif")
    with pytest.raises(ImageError, match=r"deep\.tif: TIFF with 16-bit samples"):
        load_image(path)


def test_bytes_entry_point_matches_the_file(tmp_path: Path, rng: np.random.Generator) -> None:
    path = _save(_photo(rng, _mnist(7)), tmp_path / "seven.jpg", quality=85)
    data = path.read_bytes()
    assert np.array_equal(load_image_bytes(data, name="upload"), load_image(path))
    digit = read_digit_bytes(data, name="upload")
    assert digit.doubt is None and np.array_equal(digit.pixels, load_image(path))
    with pytest.raises(ImageError, match=r"^upload: not an image"):
        load_image_bytes(b"hello", name="upload")
    with pytest.raises(ImageError, match=r"^upload: cannot read image"):
        load_image_bytes(data[: len(data) // 2], name="upload")


def test_photos_of_test_digits_tilted_with_table_in_corners(mnist_dir: Path) -> None:
    """MNIST test digits on a sheet filling the frame, tilted 0.5-4 degrees, with a light
    gradient, mild blur and JPEG: the photos the page path used to get wrong."""
    from dataclasses import replace

    from pynq_mnist import Classifier
    from pynq_mnist.apps.photo_synth import baseline_scene, render, to_jpeg
    from pynq_mnist.data import load_mnist

    images, labels = load_mnist("test", mnist_dir)
    pixels, truth = [], []
    for i in range(40):
        rng = np.random.default_rng((20261204, i))
        scene = baseline_scene(rng)
        width, height = (480, 640) if scene.portrait else (640, 480)
        angle = float(rng.uniform(0.5, 4.0)) * (1 if i % 2 else -1)
        cos, sin = np.cos(np.radians(abs(angle))), np.sin(np.radians(abs(angle)))
        scene = replace(
            scene,
            tilt_deg=angle,
            page_w=(width * cos + height * sin) * 0.98 / width,  # table in the corners
            page_h=(width * sin + height * cos) * 0.98 / height,
            page_dx=0.0,
            page_dy=0.0,
            light_slope=0.3,
            blur=0.002,
        )
        photo = render(images[i], scene, rng)
        assert np.asarray(photo.convert("L"))[0, 0] < 120, "a table corner must show"
        pixels.append(load_image_bytes(to_jpeg(photo, 85), name=f"test digit {i}"))
        truth.append(int(labels[i]))
    with Classifier(backend="cpu") as classifier:
        digits = classifier.classify(np.stack(pixels)).digits
    assert int((digits == np.array(truth)).sum()) >= 38


@pytest.mark.parametrize("gap", [3, 20])
def test_finger_from_the_edge_next_to_the_digit(rng: np.random.Generator, gap: int) -> None:
    """A finger (a dark blob) reaching in from the border below and beside the digit, its
    left end ``gap`` pixels right of the 7's right-most column, is background."""
    original = _mnist(7)
    rows, cols = np.indices((400, 300), dtype=np.float64)
    ink = np.zeros((400, 300))
    big = np.asarray(Image.fromarray(original).resize((168, 168), Image.BICUBIC)) / 255.0
    ink[116:284, 40:208] = big
    right = 40 + 168 - 24 + gap  # the 7's right-most ink is about 24 px inside its box
    finger = ((cols - 300) / (300 - right)) ** 2 + ((rows - 330) / 70) ** 2 <= 1.0
    gray = 225 - 20 * cols / 300 - 190 * ink
    gray[finger] = 70 + 10 * rows[finger] / 400
    photo = np.clip(gray + rng.normal(0, 3, gray.shape), 0, 255).astype(np.uint8)
    out = preprocess(photo)
    _assert_mnist_layout(out)
    assert _similarity(out, original) > 0.85
