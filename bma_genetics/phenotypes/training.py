"""Training the marrow U-Net: patch sampling, Dice + CE, validation Dice, checkpoints, early stop.

Inference never imports this module. The checkpoint format (read by
:func:`~bma_genetics.phenotypes.inference.load_model`) is a ``torch.save`` dict:
``{"state_dict": ..., "meta": json string}`` where ``meta`` holds the architecture
(``network``), ``context``, ``classes``, training settings and history, validation Dice and the
QC reference (per-site mask volumes, expected coverage) -- loadable with ``weights_only=True``.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bma_genetics._check import fail
from bma_genetics.phenotypes.inference import predict_slices
from bma_genetics.phenotypes.losses import DiceCELoss
from bma_genetics.phenotypes.networks import UNet, count_parameters
from bma_genetics.phenotypes.transforms import (
    CLASSES,
    Augment,
    normalise,
    semantic_labels,
    slice_stack,
)

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Training settings (defaults: the shipped 2.5D model, trained on 2 CPU cores).

    Attributes
    ----------
    spatial_dims : int
        2 (per-slice, 2.5D) -- the 3D network is trained with ``spatial_dims=3``.
    context : int
        Slices either side fed as channels (2.5D).
    features : tuple of int
        Channels per U-Net level.
    attention : bool
        Attention gates on the skips.
    patch : int
        In-plane patch size (2D) / cube edge (3D, along y and x; 32 slices).
    batch_size, lr, max_steps, val_every, patience : training loop
    max_minutes : float or None
        Wall-clock budget; training stops (keeping the best checkpoint) when exceeded.
    seed : int
    focus_labels, focus_prob : oversampling
        With probability ``focus_prob`` a patch is centred on a voxel of one of these site
        label codes (``bma_genetics.simulate.dixon.LABELS``; e.g. the small upper-thoracic
        bodies), on a slice chosen uniformly among the slices that contain them.
    """

    spatial_dims: int = 2
    context: int = 1
    features: tuple[int, ...] = (8, 16, 32, 64)
    attention: bool = False
    patch: int = 96
    batch_size: int = 12
    lr: float = 3e-3
    weight_decay: float = 1e-4
    max_steps: int = 2000
    val_every: int = 100
    patience: int = 6
    fg_slice_prob: float = 0.9
    fg_centre_prob: float = 0.7
    max_minutes: float | None = None
    seed: int = 0
    focus_labels: tuple[int, ...] = ()
    focus_prob: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Volume:
    """One training volume: normalised ``x`` (2, Z, Y, X) and semantic ``y`` (Z, Y, X)."""

    x: np.ndarray
    y: np.ndarray
    site_labels: np.ndarray | None = None
    spacing: tuple[float, float, float] = (3.0, 2.2, 2.2)
    eid: str = ""

    @classmethod
    def from_arrays(cls, water: np.ndarray, fat: np.ndarray, site_labels: np.ndarray, spacing=(3.0, 2.2, 2.2), eid: str = "") -> Volume:
        return cls(normalise(water, fat), semantic_labels(site_labels), site_labels.astype(np.int16), tuple(spacing), eid)


def load_training_dir(images: str | Path, *, limit: int | None = None) -> list[Volume]:
    """Load ``nifti/{eid}_water|fat.nii.gz`` + ``labels/{eid}_labels.nii.gz`` from an images folder."""
    from bma_genetics.io.dixon import read_label_nifti, read_nifti

    images = Path(images)
    waters = sorted((images / "nifti").glob("*_water.nii*"))
    if not waters:
        raise fail("load_training_dir/images", f"{images}/nifti has no *_water.nii.gz files")
    out = []
    for w in waters[: limit or None]:
        eid = w.name.split("_water")[0]
        lab = images / "labels" / f"{eid}_labels.nii.gz"
        if not lab.exists():
            continue
        vol = read_nifti(w, w.with_name(w.name.replace("_water", "_fat")), eid=eid)
        out.append(Volume.from_arrays(vol.water, vol.fat, read_label_nifti(lab), vol.spacing, eid))
    if not out:
        raise fail("load_training_dir/images", f"{images}: no water image has a label map in labels/")
    return out


def dice_per_class(pred: np.ndarray, truth: np.ndarray, n_classes: int) -> np.ndarray:
    """Dice of each class 1..n-1 (NaN where absent from both)."""
    out = np.full(n_classes - 1, np.nan)
    for c in range(1, n_classes):
        p, t = pred == c, truth == c
        denom = p.sum() + t.sum()
        if denom:
            out[c - 1] = 2.0 * np.logical_and(p, t).sum() / denom
    return out


class _Sampler:
    def __init__(self, vols: list[Volume], cfg: TrainConfig) -> None:
        self.vols = vols
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.aug = Augment(cfg.seed + 1)
        self.fg_slices = [np.flatnonzero(v.y.reshape(v.y.shape[0], -1).any(1)) for v in vols]
        self.focus: list[np.ndarray | None] = []
        for v in vols:
            if cfg.focus_labels and cfg.focus_prob > 0 and v.site_labels is not None:
                m = np.isin(v.site_labels, np.asarray(cfg.focus_labels))
                self.focus.append(np.flatnonzero(m.reshape(m.shape[0], -1).any(1)) if m.any() else None)
            else:
                self.focus.append(None)
        h = cfg.patch // 2
        # Pad once so every patch centre is valid.
        self.xp = [np.pad(v.x, ((0, 0), (0, 0), (h, h), (h, h))) for v in vols]
        self.yp = [np.pad(v.y, ((0, 0), (h, h), (h, h))) for v in vols]

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        cfg, r = self.cfg, self.rng
        P, h = cfg.patch, cfg.patch // 2
        xs, ys = [], []
        for _ in range(cfg.batch_size):
            i = int(r.integers(len(self.vols)))
            v = self.vols[i]
            fg = self.fg_slices[i]
            focus = self.focus[i]
            if focus is not None and r.random() < cfg.focus_prob:
                k = int(r.choice(focus))
                assert v.site_labels is not None
                yy, xx = np.nonzero(np.isin(v.site_labels[k], np.asarray(cfg.focus_labels)))
                centre = True
            else:
                k = int(r.choice(fg)) if (len(fg) and r.random() < cfg.fg_slice_prob) else int(r.integers(v.y.shape[0]))
                yy, xx = np.nonzero(v.y[k])
                centre = len(yy) > 0 and r.random() < cfg.fg_centre_prob
            if len(yy) and centre:
                j = int(r.integers(len(yy)))
                cy = int(yy[j] + r.integers(-h // 2, h // 2 + 1))
                cx = int(xx[j] + r.integers(-h // 2, h // 2 + 1))
            else:
                cy, cx = int(r.integers(v.y.shape[1])), int(r.integers(v.y.shape[2]))
            cy = int(np.clip(cy, 0, v.y.shape[1] - 1))
            cx = int(np.clip(cx, 0, v.y.shape[2] - 1))
            xin = slice_stack(self.xp[i], k, cfg.context)[:, cy : cy + P, cx : cx + P]
            yin = self.yp[i][k, cy : cy + P, cx : cx + P]
            xin, yin = self.aug(xin, yin)
            xs.append(xin)
            ys.append(yin)
        return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys).astype(np.int64))


def evaluate(net: torch.nn.Module, vols: list[Volume], cfg: TrainConfig, *, margin: int = 3) -> np.ndarray:
    """Mean per-class Dice on validation volumes (slices with labels +- ``margin``)."""
    net.eval()
    scores = []
    divisor = 2 ** (len(cfg.features) - 1)
    for v in vols:
        fg = np.flatnonzero(v.y.reshape(v.y.shape[0], -1).any(1))
        ks = np.arange(max(fg.min() - margin, 0), min(fg.max() + margin + 1, v.y.shape[0]))
        pred = predict_slices(v.x, net, context=cfg.context, divisor=divisor, slices=ks, batch_size=32)
        scores.append(dice_per_class(pred[ks], v.y[ks], len(CLASSES)))
    net.train()
    with warnings.catch_warnings():  # a class absent from every validation volume stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.array(scores), axis=0)


def save_checkpoint(path: str | Path, net: UNet, meta: dict[str, Any]) -> Path:
    from bma_genetics._atomic import atomic_path

    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"state_dict": state, "meta": json.dumps(meta, default=float)}, tmp)
    return Path(path)


def train(
    train_vols: list[Volume],
    val_vols: list[Volume],
    *,
    config: TrainConfig | None = None,
    out: str | Path,
    progress: bool = True,
    extra_meta: dict[str, Any] | None = None,
    init_checkpoint: str | Path | None = None,
) -> dict[str, Any]:
    """Train a U-Net with Dice + CE on patches, keeping the checkpoint with the best validation Dice.

    Parameters
    ----------
    train_vols, val_vols : list of Volume
        Training and validation volumes (:meth:`Volume.from_arrays`, :func:`load_training_dir`).
    config : TrainConfig, optional
    out : path
        Checkpoint path (``.pt``), rewritten atomically at each improvement.
    extra_meta : dict, optional
        Stored in the checkpoint's ``meta`` (e.g. the QC reference).
    init_checkpoint : path, optional
        Start from these weights (same architecture): fine-tuning or continuing a run.

    Returns
    -------
    dict
        ``best_val_dice`` (mean over classes), ``val_dice_per_class``, ``steps``, ``history``
        (list of ``{step, loss, val_dice}``), ``minutes``, ``checkpoint``.
    """
    from tqdm import tqdm

    cfg = config or TrainConfig()
    if not train_vols or not val_vols:
        raise fail("train/train_vols", "need at least one training and one validation volume")
    if cfg.spatial_dims != 2:
        raise fail("train/config", "this trainer samples 2D patches; set spatial_dims=2 (3D training: see docs)")
    torch.manual_seed(cfg.seed)
    in_ch = 2 * (2 * cfg.context + 1)
    net = UNet(2, in_ch, len(CLASSES), tuple(cfg.features), cfg.attention)
    if init_checkpoint is not None:
        state = torch.load(init_checkpoint, map_location="cpu", weights_only=True)["state_dict"]
        n_old = state["head.weight"].shape[0]
        if n_old != len(CLASSES) and "head_class_map" in cfg.extra:
            # Warm start across a change of classes: each new class starts from the mean of
            # the old output channels mapped to it.
            groups = cfg.extra["head_class_map"]
            state["head.weight"] = torch.stack([state["head.weight"][g].mean(0) for g in groups])
            state["head.bias"] = torch.stack([state["head.bias"][g].mean(0) for g in groups])
        net.load_state_dict(state)
    else:
        # Start the output layer at the class priors (background ~99 %): cross-entropy then
        # starts near its floor and the first hundred steps go to finding the marrow.
        with torch.no_grad():
            net.head.bias.copy_(torch.tensor([4.0] + [0.0] * (len(CLASSES) - 1)))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (1 - min(s, cfg.max_steps) / (cfg.max_steps + 1)) ** 0.9)
    loss_fn = DiceCELoss()
    sampler = _Sampler(train_vols, cfg)
    meta_base = {
        "network": net.config,
        "context": cfg.context,
        "classes": list(CLASSES),
        "train_config": {k: v for k, v in asdict(cfg).items() if k != "extra"},
        "n_train": len(train_vols),
        "n_val": len(val_vols),
        "n_parameters": count_parameters(net),
        **(extra_meta or {}),
    }
    best, best_per_class, since_best = -1.0, None, 0
    history: list[dict[str, Any]] = []
    t0 = time.time()
    running = 0.0
    net.train()
    bar = tqdm(range(1, cfg.max_steps + 1), desc="train unet", disable=not progress, unit="step")
    step = 0
    for step in bar:
        xb, yb = sampler.batch()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
        sched.step()
        lv = loss.item()
        running = 0.95 * running + 0.05 * lv if step > 1 else lv
        over_time = cfg.max_minutes is not None and (time.time() - t0) / 60 > cfg.max_minutes
        if step % cfg.val_every == 0 or step == cfg.max_steps or over_time:
            per_class = evaluate(net, val_vols, cfg)
            score = float(np.nanmean(per_class))
            history.append({"step": step, "loss": running, "val_dice": score, "val_dice_per_class": per_class.tolist()})
            log.info("step %d loss %.4f val Dice %.4f %s", step, running, score, np.round(per_class, 3).tolist())
            bar.set_postfix(loss=f"{running:.3f}", val_dice=f"{score:.3f}")
            if score > best + 1e-4:
                best, best_per_class, since_best = score, per_class, 0
                meta = {**meta_base, "step": step, "val_dice": best, "val_dice_per_class": dict(zip(CLASSES[1:], per_class.tolist(), strict=True)),
                        "history": history}
                save_checkpoint(out, net, meta)
            else:
                since_best += 1
            if since_best >= cfg.patience:
                log.info("early stopping at step %d (no improvement in %d evaluations)", step, cfg.patience)
                break
            if over_time:
                log.info("time budget of %.1f min reached at step %d", cfg.max_minutes, step)
                break
    return {
        "best_val_dice": best,
        "val_dice_per_class": dict(zip(CLASSES[1:], (best_per_class if best_per_class is not None else []), strict=False)),
        "steps": step,
        "history": history,
        "minutes": (time.time() - t0) / 60,
        "checkpoint": str(out),
    }
