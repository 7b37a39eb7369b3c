"""Inference: per-slice (2.5D) and sliding-window (3D) prediction with any callable, batched.

The predictors take a ``predictor`` -- any callable mapping a float tensor batch to logits (a
``torch.nn.Module``, a TorchScript module, a MONAI network) -- so the same code runs our U-Net,
a peer's, on CPU or GPU. Training code is never imported here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bma_genetics._atomic import sha256_file
from bma_genetics._check import fail
from bma_genetics.phenotypes.transforms import normalise, slice_stack

log = logging.getLogger(__name__)

Predictor = Callable[[torch.Tensor], torch.Tensor]


def _pad_to(x: torch.Tensor, divisor: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Zero-pad the trailing spatial dims up to multiples of ``divisor`` (no copy when none is needed)."""
    sizes = x.shape[2:]
    pads: list[int] = []
    for s in reversed(sizes):
        extra = (-s) % divisor
        pads += [extra // 2, extra - extra // 2]
    if not any(pads):
        return x, tuple(pads)
    return torch.nn.functional.pad(x, pads), tuple(pads)


def argmax_classes(logits: torch.Tensor) -> torch.Tensor:
    """``logits.argmax(1)`` as uint8 (first maximum on ties), for a few classes.

    A running maximum over the class channels: the same labels as ``argmax`` (ties to the lower
    class) and several times faster on CPU than a strided reduction over ``dim=1``; NaN logits
    are not supported. More than 255 classes fall back to ``argmax``.
    """
    n = logits.shape[1]
    if n > 255:
        return logits.argmax(1).to(torch.uint8)
    best = logits[:, 0]
    idx = torch.zeros(best.shape, dtype=torch.uint8, device=logits.device)
    for c in range(1, n):
        lc = logits[:, c]
        idx.masked_fill_(lc > best, c)
        best = torch.maximum(best, lc)
    return idx


def _unpad(x: torch.Tensor, pads: tuple[int, ...]) -> torch.Tensor:
    sl = [slice(None), slice(None)]
    n = x.ndim - 2
    for d in range(n):
        lo, hi = pads[2 * (n - 1 - d)], pads[2 * (n - 1 - d) + 1]
        sl.append(slice(lo, x.shape[2 + d] - hi))
    return x[tuple(sl)]


@torch.inference_mode()
def predict_slices(
    x: np.ndarray,
    predictor: Predictor,
    *,
    context: int = 1,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    divisor: int = 8,
    slices: np.ndarray | None = None,
    return_probabilities: bool = False,
) -> np.ndarray:
    """Segment a normalised ``(2, Z, Y, X)`` volume slice by slice (2.5D).

    Parameters
    ----------
    x : ndarray of shape (2, Z, Y, X)
        Normalised water and fat (:func:`~bma_genetics.phenotypes.transforms.normalise`).
    predictor : callable
        Maps a ``(B, 2*(2*context+1), H, W)`` tensor to ``(B, n_classes, H, W)`` logits.
    context : int, default=1
        Neighbouring slices either side fed as channels.
    batch_size : int, default=8
        Slices per forward pass.
    device : str or torch.device, default="cpu"
    divisor : int, default=8
        In-plane sizes are zero-padded to a multiple of this (the network's down-sampling).
    slices : ndarray of int, optional
        Only these slices (others get class 0).
    return_probabilities : bool, default=False
        Return softmax probabilities ``(n_classes, Z, Y, X)`` instead of labels.

    Returns
    -------
    ndarray
        ``(Z, Y, X)`` uint8 class labels, or float32 probabilities.
    """
    z = x.shape[1]
    ks = np.arange(z) if slices is None else np.asarray(slices)
    labels = np.zeros(x.shape[1:], dtype=np.uint8)
    probs: np.ndarray | None = None
    for start in range(0, len(ks), batch_size):
        kk = ks[start : start + batch_size]
        batch = torch.from_numpy(slice_stack(x, kk, context)).to(device)
        batch, pads = _pad_to(batch, divisor)
        logits = _unpad(predictor(batch), pads).float()
        if return_probabilities:
            p = torch.softmax(logits, 1).cpu().numpy()
            if probs is None:
                probs = np.zeros((p.shape[1], *x.shape[1:]), dtype=np.float32)
            probs[:, kk] = p.transpose(1, 0, 2, 3)
        else:
            labels[kk] = argmax_classes(logits).cpu().numpy()
    return probs if return_probabilities else labels


@torch.inference_mode()
def sliding_window_3d(
    x: np.ndarray,
    predictor: Predictor,
    *,
    roi: tuple[int, int, int] = (48, 96, 96),
    overlap: float = 0.25,
    batch_size: int = 2,
    device: str | torch.device = "cpu",
    n_classes: int | None = None,
) -> np.ndarray:
    """Segment a ``(C, Z, Y, X)`` volume with a 3D network over overlapping windows.

    Windows of size ``roi`` step by ``roi * (1 - overlap)``; the logits of overlapping windows
    are averaged (constant weighting, as MONAI's default ``sliding_window_inference``).
    Returns ``(Z, Y, X)`` uint8 labels.
    """
    c, *spatial = x.shape
    roi = tuple(min(r, s) for r, s in zip(roi, spatial, strict=True))
    starts = []
    for s, r in zip(spatial, roi, strict=True):
        step = max(1, int(r * (1 - overlap)))
        pos = list(range(0, max(s - r, 0) + 1, step))
        if pos[-1] != s - r:
            pos.append(s - r)
        starts.append(pos)
    windows = [(a, b, d) for a in starts[0] for b in starts[1] for d in starts[2]]
    acc: torch.Tensor | None = None
    count = torch.zeros((1, *spatial))
    xt = torch.from_numpy(x)
    for i in range(0, len(windows), batch_size):
        ws = windows[i : i + batch_size]
        batch = torch.stack([xt[:, a : a + roi[0], b : b + roi[1], d : d + roi[2]] for a, b, d in ws]).to(device)
        out = predictor(batch).float().cpu()
        if acc is None:
            acc = torch.zeros((out.shape[1], *spatial))
        for (a, b, d), o in zip(ws, out, strict=True):
            acc[:, a : a + roi[0], b : b + roi[1], d : d + roi[2]] += o
            count[:, a : a + roi[0], b : b + roi[1], d : d + roi[2]] += 1
    assert acc is not None
    return (acc / count).argmax(0).to(torch.uint8).numpy()


# --------------------------------------------------------------------------------- the model
@dataclass
class SegmentationModel:
    """A trained network plus what inference needs to use it.

    Attributes
    ----------
    network : torch.nn.Module
        In eval mode, on ``device``.
    meta : dict
        ``network`` (architecture config), ``context``, ``classes``, ``held_out_dice``,
        ``reference`` (site mask-volume statistics and expected coverage for QC), ...
    sha256 : str
        Checksum of the weights file.
    path : str
    """

    network: torch.nn.Module
    meta: dict[str, Any]
    sha256: str
    path: str
    device: str = "cpu"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def context(self) -> int:
        return int(self.meta.get("context", 1))

    @property
    def spatial_dims(self) -> int:
        return int(self.meta["network"]["spatial_dims"])

    def to(self, device: str) -> SegmentationModel:
        self.network.to(device)
        self.device = device
        return self

    def segment(self, water: np.ndarray, fat: np.ndarray, *, batch_size: int = 8) -> np.ndarray:
        """Network classes ``(Z, Y, X)`` for one volume."""
        x = normalise(water, fat)
        if self.spatial_dims == 2:
            divisor = 2 ** (len(self.meta["network"]["features"]) - 1)
            return predict_slices(x, self.network, context=self.context, batch_size=batch_size,
                                  device=self.device, divisor=divisor)
        roi = tuple(self.meta.get("roi", (48, 96, 96)))
        return sliding_window_3d(x, self.network, roi=roi, batch_size=max(1, batch_size // 8), device=self.device)


def default_weights_path() -> Path:
    """The shipped weights (``bma_genetics/data/models/bmff_unet2d.pt``)."""
    return Path(__file__).resolve().parents[1] / "data" / "models" / "bmff_unet2d.pt"


def load_model(path: str | Path | None = None, *, device: str = "cpu") -> SegmentationModel:
    """Load a checkpoint written by :func:`~bma_genetics.phenotypes.training.train` (default: shipped).

    Parameters
    ----------
    path : path, optional
        A ``.pt`` checkpoint; default the weights shipped with the package.
    device : {"cpu", "cuda", "cuda:N"}, default="cpu"

    Returns
    -------
    SegmentationModel

    Raises
    ------
    InputError
        Missing file, or not a bma-genetics checkpoint.
    """
    from bma_genetics.phenotypes.networks import build_network

    where = "load_model/path"
    p = Path(path) if path is not None else default_weights_path()
    if not p.exists():
        raise fail(where, f"no such weights file {p}" + ("" if path else "; reinstall the package (shipped weights missing)"))
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise fail("load_model/device", f"'{device}' requested but torch sees no CUDA device; use --device cpu")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise fail(where, f"{p} is not a readable torch checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "meta" not in ckpt:
        raise fail(where, f"{p} is not a bma-genetics segmentation checkpoint (needs 'state_dict' and 'meta')")
    meta = json.loads(ckpt["meta"]) if isinstance(ckpt["meta"], str) else dict(ckpt["meta"])
    net = build_network(meta["network"])
    net.load_state_dict(ckpt["state_dict"])
    net.eval()
    model = SegmentationModel(network=net, meta=meta, sha256=sha256_file(p), path=str(p))
    return model.to(device)
