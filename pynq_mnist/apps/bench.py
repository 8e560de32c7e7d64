"""Host vs fabric benchmark: accuracy, throughput, latency and bit-exactness per backend.

``python -m pynq_mnist bench [--backends cpu,sim,fabric] [--data DIR] [--limit N]
[--model NPZ] [--batch N] [--json PATH] [--plot PATH]``. The library functions
return dicts whose keys carry their units; only :func:`run` prints.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import contract
from ..backends import Backend, get_backend, resolve_backend_name
from ..board.detect import board_available
from ..errors import BackendUnavailable, PynqMnistError
from ..model import N_IN, N_OUT, Model, load_model

__all__ = [
    "add_arguments",
    "bench_backend",
    "benchmark",
    "comparison_backends",
    "load_test_set",
    "main",
    "render_table",
    "run",
    "save_plot",
]

log = logging.getLogger(__name__)

DEFAULT_BACKENDS = ("cpu", "sim")
DEFAULT_BATCH = 1000
LATENCY_CALLS = 200
ACCELERATED = ("sim", "fabric")


def comparison_backends(choice: str | None = None) -> list[str]:
    """Backends to compare for a ``$PYNQ_MNIST_BACKEND``-style choice: cpu plus the accelerator.

    ``auto`` means fabric on a PYNQ board with the overlay, else the virtual board (sim).
    """
    name = resolve_backend_name(choice)
    if name == "auto":
        name = "fabric" if board_available() else "sim"
    return ["cpu"] if name == "cpu" else ["cpu", name]


def load_test_set(
    data_dir: str | Path | None = None, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """The first ``limit`` (default all) test images as uint8 [N, 784], labels [N] and a
    one-line note of their source: the full MNIST test set when found, else the shipped
    1,000-image sample (see :func:`pynq_mnist.data.load_test_set`)."""
    from ..data import load_test_set as load_images

    test = load_images(data_dir)
    images = test.images.reshape(len(test.images), N_IN)[:limit]
    source = test.source if limit is None else f"{test.source}; the first {len(images)} used"
    return images, test.labels[:limit], source


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total, desc=desc, unit="img", file=sys.stderr, disable=not enabled, leave=False
    )


def bench_backend(
    backend: Backend,
    images: np.ndarray,
    labels: np.ndarray,
    cpu_logits: np.ndarray | None = None,
    batch: int = DEFAULT_BATCH,
    latency_calls: int = LATENCY_CALLS,
    progress: bool = False,
) -> dict[str, Any]:
    """Measure one loaded backend on ``images`` [N, 784] with ``labels`` [N].

    Returns a dict with ``accuracy``, ``images_per_s``, ``wall_s``,
    ``latency_p50_ms``, ``latency_p99_ms``, ``identical_to_cpu`` (when
    ``cpu_logits`` is given), ``confusion`` (10x10 list) and, for sim/fabric,
    ``cycles_per_image``, ``fclk_mhz``, ``images_per_s_at_fclk``,
    ``register_accesses_per_batch`` and ``batches``. Also returns the logits
    under ``"_logits"`` for the caller to compare; ``benchmark`` drops it.
    """
    n = images.shape[0]
    logits = np.empty((n, N_OUT), dtype=np.int32)
    digits = np.empty(n, dtype=np.int64)
    cycles = 0
    driver_accesses = 0
    device_accesses: int | None = 0
    transfers = 0
    fclk_mhz = None
    wall = 0.0
    with _progress(n, backend.name, progress) as bar:
        for start in range(0, n, batch):
            chunk = images[start : start + batch]
            t0 = time.perf_counter()
            inference = backend.run(chunk)
            wall += time.perf_counter() - t0
            logits[start : start + len(chunk)] = inference.logits
            digits[start : start + len(chunk)] = inference.digits
            stats = inference.stats
            if stats is not None:
                fclk_mhz = float(stats["fclk_mhz"])
                cycles += int(stats["cycles"] or 0)
                driver_accesses += int(stats["register_accesses"])
                seen = stats.get("device_register_accesses")
                device_accesses = (
                    None
                    if seen is None or device_accesses is None
                    else (device_accesses + int(seen))
                )
                transfers += int(stats["transfers"])
            bar.update(len(chunk))

    latencies = []
    for k in range(min(latency_calls, n)):
        t0 = time.perf_counter()
        backend.run(images[k : k + 1])
        latencies.append(time.perf_counter() - t0)

    confusion = np.zeros((N_OUT, N_OUT), dtype=np.int64)
    np.add.at(confusion, (labels.astype(np.int64), digits), 1)
    result: dict[str, Any] = {
        "n": n,
        "accuracy": float(np.mean(digits == labels)),
        "images_per_s": n / wall if wall > 0 else float("inf"),
        "wall_s": wall,
        "latency_p50_ms": float(np.percentile(latencies, 50) * 1e3) if latencies else None,
        "latency_p99_ms": float(np.percentile(latencies, 99) * 1e3) if latencies else None,
        "confusion": confusion.tolist(),
        "_logits": logits,
    }
    if cpu_logits is not None:
        result["identical_to_cpu"] = int(np.all(logits == cpu_logits, axis=1).sum())
    if fclk_mhz is not None:
        cycles_per_image = cycles / n
        result["cycles_per_image"] = cycles_per_image
        result["fclk_mhz"] = fclk_mhz
        result["images_per_s_at_fclk"] = fclk_mhz * 1e6 / cycles_per_image if cycles else None
        result["batches"] = transfers
        if device_accesses is not None:
            result["register_accesses_per_batch"] = device_accesses / transfers
            result["register_accesses_source"] = "virtual device counters"
        else:
            result["register_accesses_per_batch"] = driver_accesses / transfers
            result["register_accesses_source"] = "driver counter"
        digit_mismatch = int(np.sum(digits != contract.digits(logits)))
        result["hw_digit_mismatches"] = digit_mismatch
    return result


def benchmark(
    backends: list[str],
    images: np.ndarray,
    labels: np.ndarray,
    model: Model,
    batch: int = DEFAULT_BATCH,
    latency_calls: int = LATENCY_CALLS,
    progress: bool = False,
) -> dict[str, Any]:
    """Run every backend on the same images; cpu always runs first as the reference.

    The model's input transform (if any) runs once, on the host, before every
    backend; its time is reported as ``input_transform_s``.

    Returns ``{"n": N, "batch": B, "input_transform", "input_transform_s",
    "backends": {name: bench_backend(...) dict}}``.

    Raises
    ------
    BackendUnavailable
        A backend cannot run here (raised before any measurement).
    """
    start = time.perf_counter()
    images = contract.network_input(model, images)
    transform_s = time.perf_counter() - start
    labels = np.asarray(labels).astype(np.int64)
    names = ["cpu"] + [b for b in backends if b != "cpu"]
    opened: dict[str, Backend] = {}
    try:
        for name in names:
            opened[name] = get_backend(name)
            opened[name].load(model)
        results: dict[str, Any] = {}
        cpu_logits = None
        for name in names:
            res = bench_backend(
                opened[name], images, labels, cpu_logits, batch, latency_calls, progress
            )
            logits = res.pop("_logits")
            if name == "cpu":
                cpu_logits = logits
                res["identical_to_cpu"] = len(images)
            if name in backends:
                results[name] = res
    finally:
        for backend in opened.values():
            backend.close()
    return {
        "n": len(images),
        "batch": batch,
        "input_transform": model.input_transform,
        "input_transform_s": transform_s,
        "backends": results,
    }


def _transform_line(report: dict[str, Any]) -> str:
    """The input transform's host time per image and its share of each backend's time per image.

    On sim/fabric the share is of the accelerator's own time at its clock
    (CYCLES / fclk), which is what a board spends, not the simulator's wall time.
    """
    n = report["n"]
    per_image = report["input_transform_s"] / n
    shares = []
    for name, r in report["backends"].items():
        if r.get("cycles_per_image"):
            engine = r["cycles_per_image"] / (r["fclk_mhz"] * 1e6)
            where = f"{name} at {r['fclk_mhz']:g} MHz"
        else:
            engine, where = r["wall_s"] / n, name
        shares.append(f"{per_image / (per_image + engine) * 100:.1f} % on {where}")
    return (
        f"input transform {report['input_transform']} on this host: {per_image * 1e6:.2f} us/image "
        f"({report['input_transform_s'] * 1e3:.1f} ms for {n}); its share of the time per "
        f"image: {', '.join(shares)}"
    )


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render_table(report: dict[str, Any]) -> str:
    """The report as a markdown table, one row per backend."""
    n = report["n"]
    head = (
        "| backend | accuracy | identical to cpu | images/s (wall) | latency p50 / p99 (ms) "
        "| cycles/image | images/s @ fclk | register accesses/batch |"
    )
    rows = [head, "|" + "---|" * 8]
    for name, r in report["backends"].items():
        rows.append(
            f"| {name} | {r['accuracy'] * 100:.2f} % | {r['identical_to_cpu']}/{n} "
            f"| {r['images_per_s']:,.0f} | {_fmt(r['latency_p50_ms'], '.3f')} / "
            f"{_fmt(r['latency_p99_ms'], '.3f')} | {_fmt(r.get('cycles_per_image'), ',.1f')} "
            f"| {_fmt(r.get('images_per_s_at_fclk'), ',.0f')} "
            f"| {_fmt(r.get('register_accesses_per_batch'), '.1f')} |"
        )
    return "\n".join(rows)


def save_plot(report: dict[str, Any], path: str | Path) -> Path:
    """Write a PNG: confusion matrix (sim/fabric, else cpu) and images/s per backend."""
    from matplotlib.figure import Figure

    backends = report["backends"]
    shown = next((b for b in ACCELERATED if b in backends), next(iter(backends)))
    fig = Figure(figsize=(12, 5), layout="constrained")
    ax_cm, ax_bar = fig.subplots(1, 2)
    confusion = np.asarray(backends[shown]["confusion"])
    im = ax_cm.imshow(confusion, cmap="Blues")
    ax_cm.set_title(f"confusion matrix ({shown}, {report['n']} images)")
    ax_cm.set_xlabel("predicted digit")
    ax_cm.set_ylabel("true digit")
    ax_cm.set_xticks(range(N_OUT))
    ax_cm.set_yticks(range(N_OUT))
    for (i, j), count in np.ndenumerate(confusion):
        if count:
            ax_cm.text(
                j,
                i,
                str(count),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if count > confusion.max() / 2 else "black",
            )
    fig.colorbar(im, ax=ax_cm)

    labels, values = [], []
    for name, r in backends.items():
        labels.append(f"{name}\nwall")
        values.append(r["images_per_s"])
        if r.get("images_per_s_at_fclk"):
            labels.append(f"{name}\n@{r['fclk_mhz']} MHz")
            values.append(r["images_per_s_at_fclk"])
    bars = ax_bar.bar(range(len(values)), values, color="tab:blue")
    ax_bar.set_xticks(range(len(values)), labels)
    ax_bar.set_yscale("log")
    ax_bar.set_ylabel("images / s")
    ax_bar.set_title("host vs fabric throughput")
    ax_bar.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=8)
    out = Path(path)
    fig.savefig(out, dpi=100)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m pynq_mnist bench``."""
    parser.add_argument(
        "--backends",
        default=",".join(DEFAULT_BACKENDS),
        help="comma-separated backends among cpu, sim, fabric (default: cpu,sim)",
    )
    parser.add_argument(
        "--data",
        help="MNIST directory (default: $PYNQ_MNIST_DATA, ../shared/data/mnist or the download "
        "cache, else the shipped 1,000-image sample)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="use the first N test images (default: all)"
    )
    parser.add_argument("--model", help="model .npz (default: the bundled model)")
    parser.add_argument(
        "--batch",
        type=int,
        default=DEFAULT_BATCH,
        help=f"images per call (default {DEFAULT_BATCH})",
    )
    parser.add_argument(
        "--latency-calls",
        type=int,
        default=LATENCY_CALLS,
        help=f"single-image calls for the latency percentiles (default {LATENCY_CALLS})",
    )
    parser.add_argument("--json", dest="json_path", help="write the figures as JSON here")
    parser.add_argument(
        "--plot", dest="plot_path", help="write a PNG (confusion matrix, throughput) here"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    """Benchmark, print the markdown table, write JSON/PNG if asked; 2: backend unavailable."""
    names = [b.strip().lower() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in names if b not in ("cpu", "sim", "fabric")]
    if not names or unknown:
        print(
            f"error: --backends must list cpu, sim or fabric, got {args.backends!r}",
            file=sys.stderr,
        )
        return 2
    if args.batch < 1 or (args.limit is not None and args.limit < 1):
        print(
            f"error: --batch ({args.batch}) and --limit ({args.limit}) must be >= 1",
            file=sys.stderr,
        )
        return 2
    try:
        images, labels, source = load_test_set(args.data, args.limit)
        model = load_model(args.model)
        report = benchmark(
            names,
            images,
            labels,
            model,
            args.batch,
            args.latency_calls,
            progress=not args.no_progress,
        )
    except BackendUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PynqMnistError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"data: {source}")
    print(render_table(report))
    if report["input_transform"] is not None:
        print(_transform_line(report))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")
    if args.plot_path:
        save_plot(report, args.plot_path)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m pynq_mnist.bench``."""
    parser = argparse.ArgumentParser(
        prog="python -m pynq_mnist.bench", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
