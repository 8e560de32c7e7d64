"""Train the 784-128-10 MLP and export the int8 model plus a JSON report.

Two recipes:

- ``seed``: the project's original notebook. Float training, then post-training
  quantization calibrated on one training batch (shift = round(-log2 M)).
- ``qat`` (default): random affine augmentation and quantization-aware training
  that runs the contract's integer pipeline in the forward pass (uint8 pixels,
  max-abs int8 weights, h = clamp(acc1 >> s1, 0, 255)) with straight-through
  gradients. Shifts are chosen on held-out training images, never the test set.

Either recipe can train a model that asks for the integer deskew
(``--deskew before|after``, see ``pynq_mnist.deskew``): ``before`` deskews each
training image once and then augments it; ``after`` augments, then deskews each
augmented image (as inference sees inputs). Hold-out and test images are
deskewed in both cases, and the model file records ``input_transform``.

torch is imported only by this module; the rest of the package runs without it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the usual torch alias)
from tqdm import tqdm

from .. import contract, deskew
from ..data import load_mnist, resolve_data_dir, sha256_of_files
from ..errors import PynqMnistError
from ..model import N_HID, N_IN, N_OUT, Model, save_model
from . import quant, torch_ops

__all__ = ["RECIPES", "Recipe", "add_arguments", "main", "run", "train"]

logger = logging.getLogger(__name__)

# The seed notebook's output scale: int8 logits covering about +-10.
SEED_LOGIT_SCALE = 10.0 / 127.0
# Held-out training images for choosing shifts (the last ones of the training file).
HOLDOUT_IMAGES = 5000


@dataclass(frozen=True)
class Recipe:
    """Hyperparameters of one training recipe."""

    name: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    decoupled_weight_decay: bool  # AdamW rather than Adam's L2 term
    holdout: bool  # keep the last training images out of training, for the shifts
    float_fraction: float  # share of the steps trained in float before QAT starts
    rotation_deg: float  # augmentation: uniform in +-rotation_deg
    translate_px: float  # augmentation: uniform in +-translate_px, each axis
    scale: float  # augmentation: zoom uniform in 1 +- scale
    label_smoothing: float
    deskew: str = "none"  # "none", or deskew the training images "before"/"after" augmenting


DESKEW_MODES = ("none", "before", "after")

RECIPES: dict[str, Recipe] = {
    "seed": Recipe(
        name="seed",
        epochs=5,
        batch_size=64,
        lr=1e-3,
        weight_decay=1e-4,
        decoupled_weight_decay=False,
        holdout=False,
        float_fraction=1.0,
        rotation_deg=0.0,
        translate_px=0.0,
        scale=0.0,
        label_smoothing=0.0,
    ),
    "qat": Recipe(
        name="qat",
        epochs=45,
        batch_size=128,
        lr=3e-3,
        weight_decay=1e-4,
        decoupled_weight_decay=True,
        holdout=True,
        float_fraction=0.1,
        rotation_deg=8.0,
        translate_px=1.5,
        scale=0.08,
        label_smoothing=0.0,
    ),
}


def _seed_shifts(w1: np.ndarray, w2: np.ndarray, calib: np.ndarray) -> tuple[int, int, float]:
    """The seed notebook's shifts from one calibration batch: (s1, s2, S_h)."""
    _, s_w1 = quant.quantize_symmetric(w1)
    _, s_w2 = quant.quantize_symmetric(w2)
    hidden = np.maximum(0.0, calib.reshape(-1, N_IN) * quant.INPUT_SCALE @ w1.T)
    s_h = float(hidden.max()) / 255.0
    if s_h <= 0.0:
        raise ValueError("calibration batch gives no positive hidden activation")
    shift_l1 = quant.shift_from_multiplier(quant.INPUT_SCALE * s_w1 / s_h)
    shift_l2 = quant.shift_from_multiplier(s_h * s_w2 / SEED_LOGIT_SCALE)
    return shift_l1, shift_l2, s_h


def train(
    recipe: str = "qat",
    data_dir: str | Path | None = None,
    out: str | Path = "model.npz",
    epochs: int | None = None,
    seed: int = 0,
    threads: int = 1,
    train_limit: int | None = None,
    test_limit: int | None = None,
    progress: bool = True,
    command: str | None = None,
    deskew_mode: str | None = None,
) -> dict[str, Any]:
    """Train with ``recipe``, write ``out`` (.npz) and the report (.json beside it).

    Parameters
    ----------
    train_limit, test_limit:
        Use only the first N training / test images (smoke tests).
    command:
        The command line to record in the report, if any.
    deskew_mode:
        Override the recipe's ``deskew`` ("none", "before" or "after").

    Returns
    -------
    The report dict that was written as JSON.

    Raises
    ------
    ValueError
        Unknown recipe, non-positive sizes or a missing output directory.
    DataError
        MNIST files missing or malformed.
    """
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {sorted(RECIPES)}, got {recipe!r}")
    cfg = RECIPES[recipe]
    if epochs is not None:
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        cfg = replace(cfg, epochs=epochs)
    if deskew_mode is not None:
        if deskew_mode not in DESKEW_MODES:
            raise ValueError(f"deskew must be one of {DESKEW_MODES}, got {deskew_mode!r}")
        cfg = replace(cfg, deskew=deskew_mode)
    transform = None if cfg.deskew == "none" else deskew.DESKEW
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    started = time.perf_counter()
    out = Path(out)
    if not out.parent.is_dir():  # fail now, not after minutes of training
        raise ValueError(f"output directory {out.parent} does not exist (for {out})")

    train_x, train_y = load_mnist("train", data_dir)
    test_x, test_y = load_mnist("test", data_dir)
    train_x, train_y = train_x[:train_limit], train_y[:train_limit]
    test_x, test_y = test_x[:test_limit], test_y[:test_limit]
    # Small subsets keep a proportional held-out share (5000 of 60000).
    n_hold = min(HOLDOUT_IMAGES, len(train_x) // 12) if cfg.holdout else 0
    fit_x, fit_y = train_x[: len(train_x) - n_hold], train_y[: len(train_y) - n_hold]
    hold_x, hold_y = train_x[len(train_x) - n_hold :], train_y[len(train_y) - n_hold :]
    if len(fit_x) < cfg.batch_size:
        raise ValueError(f"{len(fit_x)} training images, need at least {cfg.batch_size}")
    # The network sees transformed pixels: held-out and test images as at inference.
    hold_x = deskew.apply_input_transform(transform, hold_x)
    test_x = deskew.apply_input_transform(transform, test_x)
    if cfg.deskew == "before":
        fit_x = deskew.deskew(fit_x)

    with torch_ops.DeterministicTorch(seed, threads) as gen:
        layer1 = torch.nn.Linear(N_IN, N_HID, bias=False)
        layer2 = torch.nn.Linear(N_HID, N_OUT, bias=False)
        w1, w2 = layer1.weight, layer2.weight
        params = [w1, w2]
        optimizer: torch.optim.Optimizer
        if cfg.decoupled_weight_decay:
            optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps = math.ceil(len(fit_x) / cfg.batch_size)  # the last batch may be short
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=cfg.lr,
            epochs=cfg.epochs,
            steps_per_epoch=steps,
            pct_start=0.3,
            anneal_strategy="cos",
        )
        fit_images = torch.from_numpy(fit_x)
        fit_labels = torch.from_numpy(fit_y.astype(np.int64))
        shift_l1: int | None = None
        ptq_scores: dict[int, float] = {}
        bar = tqdm(
            total=cfg.epochs * steps, desc=f"train {recipe}", file=sys.stderr, disable=not progress
        )
        float_steps = math.ceil(cfg.float_fraction * cfg.epochs * steps)
        for epoch in range(cfg.epochs):
            order = torch.randperm(len(fit_x), generator=gen)
            total_loss = 0.0
            for step in range(steps):
                if shift_l1 is None and epoch * steps + step >= float_steps:
                    shift_l1, ptq_scores = quant.choose_shift_l1(
                        w1.detach().double().numpy(), w2.detach().double().numpy(), hold_x, hold_y
                    )
                batch = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
                x = torch_ops.augment(fit_images[batch], cfg, gen)
                if cfg.deskew == "after":
                    x = torch_ops.deskew_batch(x)
                if shift_l1 is not None:
                    logits = torch_ops.integer_logits(w1, w2, x, shift_l1)
                else:
                    logits = torch_ops.float_logits(w1, w2, x)
                loss = F.cross_entropy(
                    logits, fit_labels[batch], label_smoothing=cfg.label_smoothing
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total_loss += loss.item()
                bar.update()
            bar.set_postfix(epoch=epoch + 1, loss=f"{total_loss / steps:.4f}")
            logger.info("epoch %d/%d: loss %.4f", epoch + 1, cfg.epochs, total_loss / steps)
        bar.close()
        # The seed notebook calibrated on one shuffled training batch.
        calib = fit_x[torch.randperm(len(fit_x), generator=gen)[: cfg.batch_size].numpy()]
        if cfg.deskew == "after":
            calib = deskew.deskew(calib)
        w1_f = w1.detach().double().numpy()
        w2_f = w2.detach().double().numpy()
        float_acc = torch_ops.accuracy(
            lambda x: torch_ops.float_logits(w1.detach(), w2.detach(), x), test_x, test_y
        )

    extra: dict[str, Any] = {"seed": seed, "epochs": cfg.epochs}
    if shift_l1 is None:  # seed recipe, or qat that never left float training
        shift_l1, shift_l2, s_h = _seed_shifts(w1_f, w2_f, calib)
        shift_l1_scores: dict[int, float] = {}
        shift_l2_scores: dict[int, float] = {}
        extra["calibration_hidden_scale"] = s_h
    else:
        trained_shift = shift_l1
        shift_l1, shift_l1_scores = quant.choose_shift_l1(
            w1_f, w2_f, hold_x, hold_y, candidates=_window(trained_shift), prefer=trained_shift
        )
        hold_logits = _contract_logits(w1_f, w2_f, shift_l1, hold_x)
        shift_l2, shift_l2_scores = quant.choose_shift_l2(hold_logits, hold_y)
        extra["trained_shift_l1"] = trained_shift
    model = quant.build_model(w1_f, w2_f, shift_l1, shift_l2, recipe, extra=extra)
    if transform is not None:
        model = replace(model, input_transform=transform)
    save_model(model, out)

    test_logits = _contract_logits_model(model, test_x)
    report: dict[str, Any] = {
        "recipe": recipe,
        "hyperparameters": asdict(cfg),
        "seed": seed,
        "epochs": cfg.epochs,
        "threads": threads,
        "train_images": len(fit_x),
        "holdout_images": n_hold,
        "test_images": len(test_x),
        "float_accuracy_test": float_acc,
        "int_accuracy_test": float(np.mean(contract.digits(test_logits) == test_y)),
        "int_accuracy_holdout": _holdout_accuracy(model, hold_x, hold_y),
        "input_transform": transform,
        "seed_digit_accuracy_test": quant.seed_accuracy(test_logits, shift_l2, test_y),
        "shift_l1": shift_l1,
        "shift_l2": shift_l2,
        "logit_scale": model.logit_scale,
        "shift_l1_holdout_accuracy": {str(k): v for k, v in shift_l1_scores.items()},
        "shift_l1_ptq_holdout_accuracy": {str(k): v for k, v in ptq_scores.items()},
        "shift_l2_holdout_seed_accuracy": {str(k): v for k, v in shift_l2_scores.items()},
        "data_dir": str(resolve_data_dir(data_dir)),
        "data_sha256": sha256_of_files(data_dir),
        "model_file": str(out),
        "command": command,
        "wall_time_s": time.perf_counter() - started,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
    }
    report_path = out.with_suffix(".json")
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    logger.info("wrote %s and %s", out, report_path)
    return report


def _holdout_accuracy(model: Model, images: np.ndarray, labels: np.ndarray) -> float | None:
    if len(images) == 0:
        return None
    return float(np.mean(contract.digits(_contract_logits_model(model, images)) == labels))


def _window(center: int, radius: int = 2) -> range:
    return range(max(0, center - radius), min(quant.MAX_SHIFT, center + radius) + 1)


def _contract_logits(
    w1: np.ndarray, w2: np.ndarray, shift_l1: int, images: np.ndarray
) -> np.ndarray:
    return _contract_logits_model(quant.build_model(w1, w2, shift_l1, 0, "probe"), images)


def _contract_logits_model(model: Model, images: np.ndarray) -> np.ndarray:
    return contract.exact_logits(model, images.reshape(-1, N_IN))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m pynq_mnist train``."""
    parser.add_argument(
        "--recipe", choices=sorted(RECIPES), default="qat", help="training recipe (default: qat)"
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="MNIST directory (default: $PYNQ_MNIST_DATA or ../shared/data/mnist)",
    )
    parser.add_argument(
        "--out",
        metavar="NPZ",
        default="model.npz",
        help="model file; the report goes to .json beside it",
    )
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs (seed 5, qat 45)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--deskew",
        choices=DESKEW_MODES,
        help="train for deskewed input: deskew 'before' or 'after' augmenting (default: none)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads; results depend on it (default: 1)"
    )
    parser.add_argument(
        "--train-limit", type=int, metavar="N", help="use the first N training images"
    )
    parser.add_argument("--test-limit", type=int, metavar="N", help="use the first N test images")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    """Train, export, and print a one-screen summary."""
    report = train(
        recipe=args.recipe,
        data_dir=args.data,
        out=args.out,
        epochs=args.epochs,
        seed=args.seed,
        threads=args.threads,
        train_limit=args.train_limit,
        test_limit=args.test_limit,
        progress=not args.no_progress,
        command=_command_line(args),
        deskew_mode=args.deskew,
    )
    print(f"recipe {report['recipe']}, seed {report['seed']}, {report['epochs']} epochs")
    print(f"float accuracy (test):   {report['float_accuracy_test']:.4f}")
    print(f"integer accuracy (test): {report['int_accuracy_test']:.4f}")
    if report["int_accuracy_holdout"] is not None:
        print(f"integer accuracy (hold-out): {report['int_accuracy_holdout']:.4f}")
    print(f"seed-digit accuracy:     {report['seed_digit_accuracy_test']:.4f}")
    print(f"shifts: l1 {report['shift_l1']}, l2 {report['shift_l2']}")
    print(f"wall time: {report['wall_time_s']:.1f} s")
    print(f"wrote {args.out} and {Path(args.out).with_suffix('.json')}")
    return 0


def _command_line(args: argparse.Namespace) -> str:
    """The canonical ``python -m pynq_mnist train`` line that reproduces ``args``."""
    words = ["python", "-m", "pynq_mnist", "train", "--recipe", args.recipe]
    if args.data is not None:
        words += ["--data", str(args.data)]
    words += ["--out", str(args.out), "--seed", str(args.seed), "--threads", str(args.threads)]
    for flag, value in (
        ("--epochs", args.epochs),
        ("--train-limit", args.train_limit),
        ("--test-limit", args.test_limit),
        ("--deskew", args.deskew),
    ):
        if value is not None:
            words += [flag, str(value)]
    return shlex.join(words)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m pynq_mnist.train``."""
    parser = argparse.ArgumentParser(prog="python -m pynq_mnist.train", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return run(args)
    except (PynqMnistError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
